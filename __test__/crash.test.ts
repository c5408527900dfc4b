/**
 * Crash safety: a writer killed with SIGKILL at random moments never loses an acknowledged row
 * (flushed, or only written to the write-ahead log), never duplicates one, never leaves a segment
 * another reader cannot open, and the next run recovers (continues) automatically.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Experiment } from "../src/index.js";
import { duckRows, tempRoot } from "./helpers.js";

const fixture = join(__dirname, "fixtures", "crash-writer.cjs");
const recordsFixture = join(__dirname, "fixtures", "records-writer.cjs");

/**
 * Runs the writer until it has acknowledged `acks` batches plus a random delay, then SIGKILLs it.
 * `mode`: "flush" acknowledges after flush(), "log" once the batch is in the write-ahead log.
 */
function runAndKill(args: string[], acks: number, extraMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    let acknowledged = 0;
    let seen = 0;
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.stdout.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) {
        const match = /^ack (\d+)$/.exec(line);
        if (match === null) continue;
        acknowledged = Number(match[1]);
        if (++seen === acks) setTimeout(() => child.kill("SIGKILL"), extraMs);
      }
    });
    child.on("exit", (code, signal) => {
      clearTimeout(deadline);
      if (signal === "SIGKILL" && seen >= acks) resolve(acknowledged);
      else reject(new Error(`writer exited with ${code ?? signal} after ${seen} of ${acks} acknowledgements: ${stderr}`));
    });
    const deadline = setTimeout(() => child.kill("SIGKILL"), 60_000);
  });
}

describe("crash safety", () => {
  it("SIGKILL at random moments: acknowledged rows survive exactly once, segments stay valid", async () => {
    const root = tempRoot();
    let acknowledged = 0;
    let rows = 0;
    for (let round = 0; round < 10; round++) {
      const mode = round % 2 === 0 ? "flush" : "log";
      const acked = await runAndKill([fixture, root, mode], 1 + (round % 3), Math.floor(Math.random() * 30));
      acknowledged = Math.max(acknowledged, acked);
      // The next writer recovers: it replays the write-ahead log, removes a segment published but
      // not yet listed when the kill came (its rows are in the log) and temporary files. (Until
      // then a glob over *.parquet may see such a segment, and readers do not see rows only in
      // the log.)
      const recovering = await new Experiment("crash/run", { dashRoot: root }).start();
      const { entriesRecovered, entriesUnrecoverable } = recovering.stats();
      await recovering.complete();
      expect(entriesUnrecoverable).toBe(0);
      // Rows acknowledged only by the log were never flushed: they can only come from the replay.
      // (The child continued from `rows` steps.)
      if (mode === "log") expect(entriesRecovered, `round ${round}`).toBeGreaterThanOrEqual(acked - rows);
      expect(readdirSync(join(root, "crash/run")).filter((f) => f.endsWith(".wal"))).toEqual([]);
      const experiment = await Experiment.open("crash/run", { dashRoot: root });
      const { entries } = await experiment.track("robot/position").read();
      const steps = entries.map((e) => e.step as number);
      await experiment.close();
      const wrong = entries.filter((e) => !(e.q instanceof Float32Array && e.q[0] === e.step && e.q[1] === -(e.step as number)));
      expect(wrong.slice(0, 3), `round ${round}: every typed array intact`).toEqual([]);
      expect(steps.length, `round ${round}`).toBeGreaterThanOrEqual(acknowledged);
      rows = steps.length;
      // Steps are written in order from where the last run stopped: no gap, no duplicate.
      expect(
        steps.every((s, i) => s === i),
        `round ${round}: steps are 0..n-1`,
      ).toBe(true);
      const dir = join(root, "crash/run/tracks/robot_position");
      expect((await duckRows(dir)).map((r) => r.step)).toEqual(steps);
      expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    }
  });

  it("SIGKILL while logging metrics and log lines: no torn line, no repeated number, counts agree", async () => {
    const root = tempRoot();
    const dir = join(root, "crash/records");
    let acknowledged = 0;
    for (let round = 0; round < 12; round++) {
      acknowledged = await runAndKill([recordsFixture, root], 1 + (round % 3), Math.floor(Math.random() * 40));
      // A reader between crashes (before any writer repaired the tail) reads without error.
      const reader = await Experiment.open("crash/records", { dashRoot: root });
      const { data } = await reader.metrics("train").read({ limit: 1e9 });
      await reader.close();
      expect(data.length, `round ${round}`).toBeGreaterThanOrEqual(acknowledged);
    }
    const last = await new Experiment("crash/records", { dashRoot: root }).start();
    last.metrics("train").log({ step: -1 });
    last.log("last");
    await last.complete();

    const parse = (file: string) =>
      readFileSync(join(dir, file), "utf8")
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    const points = parse("metrics/train/data.jsonl");
    expect(points.length).toBeGreaterThan(acknowledged);
    expect(points.map((p) => p.index)).toEqual(points.map((_, i) => i));
    expect(points.map((p) => (p.data as { step: number }).step).slice(0, -1)).toEqual(points.slice(0, -1).map((_, i) => i));
    const meta = JSON.parse(readFileSync(join(dir, "metrics/train/metadata.json"), "utf8")) as Record<string, number>;
    expect([meta.totalDataPoints, meta.nextIndex]).toEqual([points.length, points.length]);
    const lines = parse("logs/logs.jsonl");
    const sequence = lines.map((l) => l.sequenceNumber);
    expect(sequence).toEqual(sequence.map((_, i) => i));
  });

  it("a second writer of the same experiment is refused while the first is open; readers are not", async () => {
    const root = tempRoot();
    const first = await new Experiment("lock/x", { dashRoot: root }).start();
    await expect(new Experiment("lock/x", { dashRoot: root }).start()).rejects.toMatchObject({ code: "ERR_DASH_LOCKED" });
    first.track("t").append({ v: 1 }, 1);
    const reader = await Experiment.open("lock/x", { dashRoot: root });
    await first.flush();
    expect((await reader.track("t").read()).entries).toEqual([{ timestamp: 1, v: 1 }]);
    await reader.close();
    await first.complete();
    const second = await new Experiment("lock/x", { dashRoot: root }).start();
    await second.complete();
  });
});
