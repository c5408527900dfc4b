/// <reference lib="dom" />
/**
 * The viewer in a real browser: Debian's chromium driven headless by playwright-core. The page
 * loads an experiment, draws non-empty charts, and moving the cursor changes the frame shown. A
 * screenshot is kept in __test__/artifacts/viewer.png.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Experiment } from "../src/index.js";
import { startViewer, type Viewer } from "../src/viewer.js";
import { tempRoot } from "./helpers.js";

const executablePath = "/usr/bin/chromium";
const available = existsSync(executablePath);

describe.runIf(available || process.env.CI === "true")("viewer", () => {
  let browser: Browser;
  let viewer: Viewer;

  beforeAll(async () => {
    expect(available, `${executablePath} is missing (apt-get install chromium)`).toBe(true);
    const root = tempRoot();
    await new Experiment("view/arm", { dashRoot: root }).run((e) => {
      for (let step = 0; step < 60; step++) {
        const frame = `frame_${String(step).padStart(5, "0")}.png`;
        if (step % 5 === 0) {
          const data = new Uint8Array(32 * 24 * 3).fill(step * 4);
          e.files("robot/frames").saveImage({ data, width: 32, height: 24 }, { to: frame });
        }
        e.track("robot/position").append({ step, x: Math.sin(step / 8), y: Math.cos(step / 8) }, 1000 + step * 0.1);
        e.track("robot/control").append({ step, ctrl: step % 7 }, 1000 + step * 0.1);
      }
    });
    viewer = await startViewer("view/arm", root);
    browser = await chromium.launch({
      executablePath,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await viewer?.close();
  });

  it("draws one chart per track and shows the frame nearest the cursor", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    await page.goto(viewer.url);
    await page.waitForSelector("body[data-ready=true]", { timeout: 30_000 });
    const sections = await page.$$eval("#charts section", (nodes) => nodes.map((n) => (n as HTMLElement).dataset.topic));
    expect(sections).toEqual(["robot/control", "robot/position"]);
    const inked = await page.$$eval("#charts canvas", (canvases) =>
      canvases.map((c) => {
        const canvas = c as HTMLCanvasElement;
        const pixels = canvas.getContext("2d")?.getImageData(0, 0, canvas.width, canvas.height).data ?? new Uint8ClampedArray();
        let drawn = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) drawn++;
        return drawn;
      }),
    );
    expect(inked.length).toBe(2);
    for (const count of inked) expect(count).toBeGreaterThan(500);

    const over = (await page.$$(".u-over"))[1];
    const box = await over?.boundingBox();
    expect(box).toBeTruthy();
    const frameAt = async (fraction: number) => {
      await page.mouse.move((box?.x ?? 0) + (box?.width ?? 0) * fraction, (box?.y ?? 0) + (box?.height ?? 0) / 2);
      await page.waitForFunction(() => (document.getElementById("frame-name")?.textContent ?? "").includes("frame_"));
      return page.$eval("#frame-name", (n) => n.textContent);
    };
    const early = await frameAt(0.1);
    const late = await frameAt(0.9);
    expect(early).toMatch(/robot\/frames\/frame_000(0|1)\d\.png/);
    expect(late).toMatch(/robot\/frames\/frame_000[45]\d\.png/);
    expect(late).not.toBe(early);
    // The frame shown is the decoded image of that file.
    const shownName = (late ?? "").split("/").pop() as string;
    await page.waitForFunction((name) => {
      const img = document.getElementById("frame") as HTMLImageElement | null;
      return img?.complete && img.naturalWidth > 0 && (img.getAttribute("src") ?? "").includes(name);
    }, shownName);
    expect(await page.$eval("#frame", (img) => (img as HTMLImageElement).naturalWidth)).toBe(32);
    mkdirSync(join(__dirname, "artifacts"), { recursive: true });
    await page.screenshot({ path: join(__dirname, "artifacts", "viewer.png") });
  });
});
