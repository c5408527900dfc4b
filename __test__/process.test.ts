/** Process and thread boundaries: exit without complete(), worker threads. */
import { spawn, spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { Experiment } from "../src/index.js";
import { expectSegmentsMatch, readJson, tempRoot, trackDir } from "./helpers.js";

const fixtures = join(__dirname, "fixtures");

async function readBack(root: string, prefix: string, topic: string) {
  const experiment = await new Experiment(prefix, { dashRoot: root }).start();
  const { entries } = await experiment.track(topic).read();
  const dir = trackDir(experiment, topic);
  await experiment.complete();
  return { entries, dir };
}

describe("exit paths", () => {
  for (const [mode, expectedStatus] of [
    ["natural", 0],
    ["exit", 0],
    ["throw", 1],
    ["reject", 1],
  ] as const) {
    it(`a script that ends by "${mode}" without complete() still has its data on disk`, async () => {
      const root = tempRoot();
      const child = spawnSync(process.execPath, [join(fixtures, "append-and-exit.cjs"), root, mode, "5000"], {
        encoding: "utf8",
        timeout: 60_000,
      });
      expect(child.status, child.stderr).toBe(expectedStatus);
      const { entries, dir } = await readBack(root, "exit/child", "robot/position");
      expect(entries).toHaveLength(5000);
      expect(entries.every((e, i) => e.step === i && e.x === i * 0.5)).toBe(true);
      await expectSegmentsMatch(dir, entries);
    });
  }
});

describe("signals", () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`with flushOnSignals, ${signal} flushes what was appended and ends the process by the signal`, async () => {
      const root = tempRoot();
      const child = spawn(process.execPath, [join(fixtures, "signal.cjs"), root], { stdio: ["ignore", "pipe", "pipe"] });
      const ended = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, sig) => resolve(sig)));
      await new Promise<void>((resolve) => child.stdout.on("data", (chunk: Buffer) => chunk.toString().includes("ready") && resolve()));
      child.kill(signal);
      expect(await ended).toBe(signal);
      const { entries } = await readBack(root, "signal/child", "robot/position");
      expect(entries.map((e) => e.step)).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    });
  }
});

describe("progress", () => {
  const backlog = join(fixtures, "big-backlog.cjs");
  const env = { ...process.env, DASH_INGEST_PROGRESS_DELAY_MS: "0" };

  it("complete() shows a progress line on a terminal", () => {
    // `script` gives the child a pseudo-terminal, as a user's shell would.
    const command = `"${process.execPath}" "${backlog}" "${tempRoot()}"`;
    const child = spawnSync("script", ["-qfec", command, "/dev/null"], { encoding: "utf8", env, timeout: 120_000 });
    expect(child.status, child.stderr).toBe(0);
    expect(child.stdout).toMatch(/dash-ingest: writing progress\/run \[#+-*\] [\d,]+\/1,500,000/);
    expect(child.stdout).toContain("done");
  });

  it("and stays quiet when stderr is not a terminal", () => {
    const child = spawnSync(process.execPath, [backlog, tempRoot()], { encoding: "utf8", env, timeout: 120_000 });
    expect(child.status, child.stderr).toBe(0);
    expect(child.stderr).toBe("");
    expect(child.stdout).toBe("done\n");
  });
});

/** Threads of this process (Linux). */
function threadCount(): number {
  return readdirSync("/proc/self/task").length;
}

/** Open file descriptors of this process (Linux). */
function fdCount(): number {
  return readdirSync("/proc/self/fd").length;
}

describe("worker threads", () => {
  it("worker.terminate() in the middle of appends: the process survives, threads return to baseline", async () => {
    const root = tempRoot();
    const before = threadCount();
    const fdsBefore = fdCount();
    const worker = new Worker(join(fixtures, "worker-loop.cjs"), { workerData: { root } });
    await new Promise((resolve) => worker.once("message", resolve));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await worker.terminate();
    const deadline = Date.now() + 20_000;
    while (threadCount() > before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(threadCount()).toBeLessThanOrEqual(before);
    expect(fdCount()).toBeLessThanOrEqual(fdsBefore);
    // What reached the engine before the termination was sealed by its cleanup, and reads back
    // as a prefix of the steps (nothing torn, nothing out of order).
    const { entries } = await readBack(root, "worker/terminated", "busy");
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.every((e, i) => e.step === i)).toBe(true);
  });

  function runWorker(root: string, mode: "complete" | "natural") {
    return new Promise<number>((resolve, reject) => {
      const worker = new Worker(join(fixtures, "worker.cjs"), { workerData: { root, count: 3000, mode } });
      worker.on("error", reject);
      worker.on("exit", resolve);
    });
  }

  it("loads the addon in a worker, appends, completes, and exits cleanly", async () => {
    const root = tempRoot();
    const [threads, fds] = [threadCount(), fdCount()];
    expect(await runWorker(root, "complete")).toBe(0);
    // A thread may still be on its way out when the worker's exit event arrives (as after terminate).
    const deadline = Date.now() + 20_000;
    while (threadCount() > threads && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(threadCount()).toBeLessThanOrEqual(threads);
    expect(fdCount()).toBeLessThanOrEqual(fds);
    const { entries } = await readBack(root, "worker/child", "worker/data");
    expect(entries.map((e) => e.step)).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    expect(readJson(join(root, "worker/child/experiment.json")).status).toBe("COMPLETED");
  });

  it("a worker that ends without complete() still flushes its data", async () => {
    const root = tempRoot();
    expect(await runWorker(root, "natural")).toBe(0);
    const { entries } = await readBack(root, "worker/child", "worker/data");
    expect(entries).toHaveLength(3000);
  });
});
