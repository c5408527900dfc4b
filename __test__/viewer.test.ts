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
        e.track("robot/joints").append({ q: Float32Array.of(Math.sin(step / 5), step / 60, -1) }, 1000 + step * 0.1);
        // Two runs of one track, steps 0–29 twice.
        e.track("robot/reward").append({ step: step % 30, r: step }, 1000 + step * 0.1);
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
    expect(sections).toEqual(["robot/control", "robot/joints", "robot/position", "robot/reward"]);
    // The second run (the step goes back) is a line of its own, never joined to the first.
    const reward = await page.evaluate(() => {
      const plot = (window as unknown as { dashViewer: { plots: { data: (number | null)[][]; series: { label: string }[] }[] } }).dashViewer
        .plots[3];
      return { data: plot?.data, labels: plot?.series.map((s) => s.label) };
    });
    expect(reward.labels).toEqual(["step", "r", "r (run 2)"]);
    expect(reward.data?.[0]).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(reward.data?.[1]).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(reward.data?.[2]).toEqual(Array.from({ length: 30 }, (_, i) => 30 + i));
    // A typed-array field is drawn a line per element; axes have titles.
    const joints = await page.evaluate(() =>
      (window as unknown as { dashViewer: { plots: { series: { label: string }[] }[] } }).dashViewer.plots[1]?.series.map((s) => s.label),
    );
    expect(joints).toEqual(["timestamp", "q[0]", "q[1]", "q[2]"]);
    expect(await page.$$eval("#charts section", (nodes) => nodes[0]?.textContent ?? "")).toContain("step");
    const inked = await page.$$eval("#charts canvas", (canvases) =>
      canvases.map((c) => {
        const canvas = c as HTMLCanvasElement;
        const pixels = canvas.getContext("2d")?.getImageData(0, 0, canvas.width, canvas.height).data ?? new Uint8ClampedArray();
        let drawn = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) drawn++;
        return drawn;
      }),
    );
    expect(inked.length).toBe(4);
    for (const count of inked) expect(count).toBeGreaterThan(500);

    const over = (await page.$$(".u-over"))[2];
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

  it("a long vector field is a heatmap under its chart: a band per element, coloured by value", async () => {
    const root = tempRoot();
    await new Experiment("view/rl", { dashRoot: root }).run((e) => {
      for (let step = 0; step < 200; step++) {
        // Element k holds k / 31 in the first 100 steps, then (31 - k) / 31: the heatmap flips halfway.
        const state = Float32Array.from({ length: 32 }, (_, k) => (step < 100 ? k : 31 - k) / 31);
        e.track("rl/state").append({ step, state }, 10 + step * 0.01);
      }
    });
    const rl = await startViewer("view/rl", root);
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    try {
      await page.goto(rl.url);
      await page.waitForSelector("body[data-ready=true]", { timeout: 30_000 });
      const heatmap = await page.$eval('canvas.heatmap[data-field="state"]', (node) => {
        const canvas = node as HTMLCanvasElement;
        const context = canvas.getContext("2d");
        const at = (x: number, y: number) => Array.from(context?.getImageData(x, y, 1, 1).data ?? []).slice(0, 3);
        const [early, late] = [Math.floor(canvas.width / 4), Math.floor((3 * canvas.width) / 4)];
        return {
          width: canvas.width,
          early: [at(early, 1), at(early, canvas.height - 2)],
          late: [at(late, 1), at(late, canvas.height - 2)],
          label: canvas.previousElementSibling?.textContent,
        };
      });
      expect(heatmap.width).toBeGreaterThan(500);
      expect(heatmap.label).toContain("32 elements");
      // Element 0 at the top: the smallest value (viridis' first colour) early, the largest (its last) late.
      const [dark, bright] = [
        [68, 1, 84],
        [253, 231, 37],
      ];
      expect(heatmap.early).toEqual([dark, bright]);
      expect(heatmap.late).toEqual([bright, dark]);
      mkdirSync(join(__dirname, "artifacts"), { recursive: true });
      await page.screenshot({ path: join(__dirname, "artifacts", "viewer-heatmap.png") });
    } finally {
      await page.close();
      await rl.close();
    }
  });

  it("overlays experiments of one project: a line per experiment by step or by time since its start, more added from the page", async () => {
    const root = tempRoot();
    const losses: Record<string, number[]> = {};
    for (const [name, start, rate] of [
      ["run-a", 1000, 0.9],
      ["run-b", 5000, 0.8],
      ["run-c", 9000, 0.7],
    ] as const) {
      losses[name] = [];
      await new Experiment(`cmp/${name}`, { dashRoot: root }).run((e) => {
        for (let step = 0; step < 50; step++) {
          const loss = rate ** step;
          losses[name]?.push(loss);
          e.track("train/loss").append({ step, loss }, start + step * 0.5);
        }
      });
    }
    await new Experiment("elsewhere/run-x", { dashRoot: root }).run((e) => e.track("train/loss").append({ step: 0, loss: 1 }, 1));
    const compare = await startViewer(["cmp/run-a", "cmp/run-b"], root);
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    type Plot = { data: (number | null | undefined)[][]; series: { label: string }[]; axes: { label: string }[] };
    const chart = () =>
      page.evaluate(() => {
        const plot = (window as unknown as { dashViewer: { plots: Plot[] } }).dashViewer.plots[0];
        return { data: plot?.data.map((c) => c.map((v) => v ?? null)), labels: plot?.series.map((s) => s.label), x: plot?.axes[0]?.label };
      });
    try {
      await page.goto(compare.url);
      await page.waitForSelector("body[data-ready=true]", { timeout: 30_000 });
      const byStep = await chart();
      expect(byStep.labels).toEqual(["step", "loss · run-a", "loss · run-b"]);
      expect(byStep.x).toBe("step");
      expect(byStep.data?.[0]).toEqual(Array.from({ length: 50 }, (_, i) => i));
      expect(byStep.data?.[1]).toEqual(losses["run-a"]);
      expect(byStep.data?.[2]).toEqual(losses["run-b"]);
      // Only this project's other experiments can be added.
      const options = await page.$$eval("#compare option", (nodes) => nodes.map((n) => (n as HTMLOptionElement).value).filter(Boolean));
      expect(options).toEqual(["cmp/run-c"]);
      await page.selectOption("#compare", "cmp/run-c");
      await page.waitForFunction(() => (window as unknown as { dashViewer: { plots: Plot[] } }).dashViewer.plots[0]?.series.length === 4);
      expect((await chart()).data?.[3]).toEqual(losses["run-c"]);
      // By time: each run from its own start (they began hours apart), so the lines lie over each other.
      await page.selectOption("#x-axis", "timestamp");
      const byTime = await chart();
      expect(byTime.x).toBe("time since start (s)");
      expect(byTime.data?.[0]).toEqual(Array.from({ length: 50 }, (_, i) => i * 0.5));
      expect(byTime.data?.[2]).toEqual(losses["run-b"]);
      const inked = await page.$$eval("#charts canvas", (canvases) => {
        const canvas = canvases[0] as HTMLCanvasElement;
        const pixels = canvas.getContext("2d")?.getImageData(0, 0, canvas.width, canvas.height).data ?? new Uint8ClampedArray();
        let drawn = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) drawn++;
        return drawn;
      });
      expect(inked).toBeGreaterThan(500);
      // Removing an overlay from the page.
      await page.click("#shown .chip");
      await page.waitForFunction(() => (window as unknown as { dashViewer: { plots: Plot[] } }).dashViewer.plots[0]?.series.length === 3);
      mkdirSync(join(__dirname, "artifacts"), { recursive: true });
      await page.screenshot({ path: join(__dirname, "artifacts", "viewer-overlay.png") });
      // The API reads only experiments of the project.
      for (const experiment of ["elsewhere/run-x", "cmp/../elsewhere/run-x", "../cmp/run-a"]) {
        const response = await fetch(`${compare.url}api/tracks?${new URLSearchParams({ experiment })}`);
        expect(response.status, experiment).toBe(404);
      }
    } finally {
      await page.close();
      await compare.close();
    }
  });

  it("a 10M-row track: the first render fetches what the chart's width needs (from the segments' summaries), a zoom fetches finer rows, new rows appear live", async () => {
    const root = tempRoot();
    const experiment = await new Experiment("view/big", { dashRoot: root }).start();
    const rows = 10_000_000;
    for (let i = 0; i < rows; i++)
      experiment.track("signal").append({ step: i, v: Math.sin(i / 1000) + (i % 997 === 0 ? 5 : 0) }, i / 1000);
    await experiment.flush();
    const big = await startViewer("view/big", root);
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    const fetched: { url: string; bytes: number; rows: number }[] = [];
    page.on("response", async (response) => {
      if (!response.url().includes("/api/track?")) return;
      // The page keeps polling for live rows: a response still arriving when the page closes at
      // the test's end has no body to read, and is not one the test waits for.
      const body = await response.body().catch(() => undefined);
      if (body === undefined) return;
      fetched.push({ url: response.url(), bytes: body.length, rows: (JSON.parse(body.toString()) as { rows: number }).rows });
    });
    try {
      await page.goto(big.url);
      await page.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
      await page.waitForFunction(() => document.querySelectorAll("#charts canvas").length > 0);
      await expect.poll(() => fetched.length).toBe(1);
      // Every spike (one in 997 rows) is its pixel column's maximum: the chart keeps one per column.
      expect(fetched[0]?.bytes).toBeLessThan(2 * 1024 * 1024);
      expect(fetched[0]?.rows).toBeLessThan(20_000);
      const width = Number(new URL(fetched[0]?.url ?? "").searchParams.get("width"));
      const span = (rows - 1) / 1000 / width;
      const columns = new Set<number>();
      for (let i = 0; i < rows; i += 997) columns.add(Math.min(width - 1, Math.floor(i / 1000 / span)));
      const kept = await page.evaluate(() => {
        const track = (window as unknown as { dashViewer: { tracks: { x: { timestamp: number[] }; series: { v: number[] } }[] } })
          .dashViewer.tracks[0];
        return (track?.x.timestamp ?? []).filter((_, i) => (track?.series.v[i] ?? 0) > 4);
      });
      expect(new Set(kept.map((t) => Math.min(width - 1, Math.floor(t / span))))).toEqual(columns);
      // Zoom to 1% of the run (x is the step): the rows of that range come, finer.
      await page.evaluate(() => {
        const state = (window as unknown as { dashViewer: { plots: { setScale(k: string, s: { min: number; max: number }): void }[] } })
          .dashViewer;
        for (const plot of state.plots) plot.setScale("x", { min: 5_000_000, max: 5_100_000 });
      });
      await page.waitForFunction(() => (window as unknown as { dashViewer: { refreshes: number } }).dashViewer.refreshes > 0);
      // The test's response handler reads bodies asynchronously: wait for it too.
      await expect.poll(() => fetched.length).toBeGreaterThan(1);
      const zoom = fetched[1];
      expect(zoom?.url).toMatch(/start=/);
      // Finer: the chart holds rows at its pixel resolution (one or more per pixel column) for the
      // 1% shown, not the 1% of the whole run's that the first fetch had.
      expect(zoom?.rows).toBeGreaterThanOrEqual(width);
      expect(zoom?.rows).toBeGreaterThan(20 * Math.ceil((fetched[0]?.rows ?? 0) / 100));
      const shown = await page.evaluate(() => {
        const xs = (window as unknown as { dashViewer: { tracks: { x: { step: number[] } }[] } }).dashViewer.tracks[0]?.x.step ?? [];
        return [xs[0], xs[xs.length - 1]];
      });
      expect(shown[0]).toBeGreaterThanOrEqual(4_990_000);
      expect(shown[1]).toBeLessThanOrEqual(5_110_000);
      // Back to the whole run; then rows appended by the running writer appear without a reload.
      await page.click("#reset");
      await page.waitForFunction(() => (window as unknown as { dashViewer: { refreshes: number } }).dashViewer.refreshes > 1);
      for (let i = rows; i < rows + 1000; i++) experiment.track("signal").append({ step: i, v: 0 }, i / 1000);
      await experiment.flush();
      await page.waitForFunction(
        (last) => {
          const xs = (window as unknown as { dashViewer: { tracks: { x: { step: number[] } }[] } }).dashViewer.tracks[0]?.x.step ?? [];
          return xs[xs.length - 1] === last;
        },
        rows + 999,
        { timeout: 20_000 },
      );
    } finally {
      await page.close();
      await big.close();
      await experiment.complete();
    }
  });
});
