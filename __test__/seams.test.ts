/**
 * Trust at the seams: exports, readers and recovery never corrupt, hide or revert data. Each case
 * is a way a user (or a power loss) once made the engine return wrong rows.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Experiment } from "../src/index.js";
import { readJson, tempRoot } from "./helpers.js";

const cli = join(__dirname, "..", "dist", "cli.js");

function runCli(args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", timeout: 60_000 });
}

function segments(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith(".parquet"));
}

describe("exports never race a writer", () => {
  it("an export from another process while a writer runs is refused; later rows keep their values and types", async () => {
    const root = tempRoot();
    const writer = await new Experiment("seams/export", { dashRoot: root }).start();
    const track = writer.track("s");
    for (let i = 0; i < 5; i++) track.append({ step: i, v: Float32Array.of(i, 0.5) }, i);
    await writer.flush();

    const exported = runCli(["export", "seams/export", "--format", "ml-dash", "--dash-root", root]);
    expect(exported.status).toBe(1);
    expect(exported.stderr).toContain("ERR_DASH_LOCKED");
    expect(exported.stderr).toContain("exportMlDash");

    for (let i = 0; i < 5; i++) track.append({ step: i + 100, v: Float32Array.of(-i, 1.5) }, i);
    await writer.complete();
    const next = await new Experiment("seams/export", { dashRoot: root }).start();
    next.track("s").append({ step: 5, v: Float32Array.of(5, 5) }, 5);
    const { entries } = await next.track("s").read();
    await next.complete();
    expect(entries.map((e) => e.step)).toEqual([100, 101, 102, 103, 104, 5]);
    expect(entries[1]?.v).toEqual(Float32Array.of(-1, 1.5));

    // With no writer, the command line exports, and the SDK's file holds the newest values.
    const after = runCli(["export", "seams/export", "--format", "ml-dash", "--dash-root", root]);
    expect(after.stderr).toBe("");
    expect(after.status).toBe(0);
    const lines = readFileSync(join(root, "seams/export/tracks/s/data.jsonl"), "utf8").trim().split("\n");
    expect(lines.map((l) => (JSON.parse(l) as { step: number }).step)).toEqual([100, 101, 102, 103, 104, 5]);
  });

  it("a reader's exportMlDash never hides the writer's rows", async () => {
    const root = tempRoot();
    const writer = await new Experiment("seams/reader-export", { dashRoot: root }).start();
    for (let i = 0; i < 100; i++) writer.track("t").append({ i }, i);
    await writer.flush();
    const reader = await Experiment.open("seams/reader-export", { dashRoot: root });
    await expect(reader.exportMlDash()).rejects.toMatchObject({ code: "ERR_DASH_LOCKED" });
    for (let i = 100; i < 200; i++) writer.track("t").append({ i }, i);
    await writer.complete();
    expect((await reader.track("t").read()).count).toBe(200);
    expect((await reader.tracks.list())[0]?.totalEntries).toBe(200);
    await reader.exportMlDash();
    expect((await reader.track("t").read()).count).toBe(200);
    await reader.close();
    const lines = readFileSync(join(root, "seams/reader-export/tracks/t/data.jsonl"), "utf8").trim().split("\n");
    expect(lines).toHaveLength(200);
  });

  it("a data.jsonl left by an export cut short is never imported over newer segments", async () => {
    const root = tempRoot();
    await new Experiment("seams/stale", { dashRoot: root }).run((e) => {
      for (let i = 0; i < 3; i++) e.track("t").append({ v: i + 10 }, i);
    });
    // A crash between writing data.jsonl and the metadata that marks it as an export.
    const dir = join(root, "seams/stale/tracks/t");
    writeFileSync(join(dir, "data.jsonl"), '{"timestamp": 0.0, "v": -1.0}\n');
    const meta = readJson(join(dir, "metadata.json"));
    delete meta.dataJsonl;
    writeFileSync(join(dir, "metadata.json"), JSON.stringify(meta));

    const next = await new Experiment("seams/stale", { dashRoot: root }).start();
    next.track("t").append({ v: 13 }, 3);
    await next.complete();
    const reader = await Experiment.open("seams/stale", { dashRoot: root });
    const { entries } = await reader.track("t").read();
    await reader.close();
    expect(entries.map((e) => e.v)).toEqual([10, 11, 12, 13]);
  });
});

describe("readers see a consistent, current snapshot", () => {
  it("readers racing a writer that rewrites segments never fail, and a long-lived handle sees new rows", async () => {
    const root = tempRoot();
    const writer = await new Experiment("seams/race", { dashRoot: root }).start();
    const track = writer.track("t");
    for (let i = 0; i < 50; i++) track.append({ i, round: 0 }, i);
    await writer.flush();
    const longLived = await Experiment.open("seams/race", { dashRoot: root });
    expect((await longLived.track("t").read()).count).toBe(50);

    let done = false;
    const errors: unknown[] = [];
    let reads = 0;
    const freshReaders = (async () => {
      while (!done) {
        try {
          const reader = await Experiment.open("seams/race", { dashRoot: root });
          const { entries } = await reader.track("t").read();
          await reader.close();
          // Every snapshot is one the writer published: rows 0..n-1 of one round or another.
          expect(entries.map((e) => e.i)).toEqual(entries.map((_, k) => k));
          reads++;
        } catch (error) {
          errors.push(error);
        }
      }
    })();
    // Each round rewrites every segment (same timestamps, new values) and adds rows.
    for (let round = 1; round <= 40; round++) {
      for (let i = 0; i < 50 + round; i++) track.append({ i, round }, i);
      await writer.flush();
    }
    done = true;
    await freshReaders;
    expect(errors).toEqual([]);
    expect(reads).toBeGreaterThan(0);
    const latest = await longLived.track("t").read();
    expect(latest.count).toBe(90);
    expect(new Set(latest.entries.map((e) => e.round))).toEqual(new Set([40]));
    await longLived.close();
    await writer.complete();
  });
});

describe("recovery never reverts acknowledged values", () => {
  it("an old segment back after a power loss (its unlink lost) is removed, not adopted", async () => {
    const root = tempRoot();
    const dir = join(root, "seams/power/tracks/t");
    const writer = await new Experiment("seams/power", { dashRoot: root }).start();
    for (let i = 0; i < 5; i++) writer.track("t").append({ v: "old" }, i);
    await writer.flush();
    const [old] = segments(dir);
    copyFileSync(join(dir, old as string), join(root, "old.parquet"));
    for (let i = 0; i < 5; i++) writer.track("t").append({ v: "new" }, i);
    await writer.complete();
    expect(segments(dir)).not.toContain(old);

    copyFileSync(join(root, "old.parquet"), join(dir, old as string));
    const next = await new Experiment("seams/power", { dashRoot: root }).start();
    const { entries } = await next.track("t").read();
    await next.complete();
    expect(entries.map((e) => e.v)).toEqual(["new", "new", "new", "new", "new"]);
    expect(segments(dir)).not.toContain(old);
  });
});
