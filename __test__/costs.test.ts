/**
 * Cost stays proportional to the data, checked by what the engine does (files it rewrites, files
 * it keeps, syncs it issues), not by timing: a late row does not rewrite a track, frequent flushes
 * do not pile up files, many tracks are sealed with a constant number of syncs, and file records
 * are written once per flush. (Timings are in the README's measurements.)
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Experiment } from "../src/index.js";
import { duckRows, tempRoot } from "./helpers.js";

const segments = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".parquet")) : []);

async function until(what: string, done: () => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("costs proportional to the data", () => {
  it("a late row rewrites no segment; a row at a held timestamp rewrites only the segment holding it", async () => {
    const root = tempRoot();
    // Segments of 100k+ rows: large enough that background compaction leaves them alone.
    const experiment = await new Experiment("cost/late", { dashRoot: root, maxUnsealedBytes: 4 << 20 }).start();
    const track = experiment.track("t");
    for (let i = 0; i < 400_000; i++) track.append({ step: i, x: i * 0.5 }, i);
    await experiment.flush();
    const dir = join(root, "cost/late/tracks/t");
    const before = segments(dir);
    expect(before.length).toBeGreaterThan(2);

    track.append({ late: 1 }, 100.5);
    for (let i = 400_000; i < 400_100; i++) track.append({ step: i }, i);
    await experiment.flush();
    const afterLate = segments(dir);
    expect(before.filter((f) => !afterLate.includes(f))).toEqual([]);

    track.append({ late: 2 }, 5000);
    await experiment.flush();
    const afterHeld = segments(dir);
    expect(afterLate.filter((f) => !afterHeld.includes(f))).toHaveLength(1);

    const { entries, count } = await track.read({ start: 100, end: 101 });
    expect(count).toBe(3);
    expect(entries.map((e) => e.timestamp)).toEqual([100, 100.5, 101]);
    expect((await track.read({ start: 5000, end: 5000 })).entries).toEqual([{ timestamp: 5000, step: 5000, x: 2500, late: 2 }]);
    await experiment.complete();
    // Segments overlap in time but never share a timestamp: DuckDB over the files sees each row once.
    const rows = await duckRows(dir);
    expect(rows).toHaveLength(400_101);
    expect(new Set(rows.map((r) => r.timestamp)).size).toBe(400_101);
  });

  it("one flush per append keeps a bounded number of segments (background compaction)", async () => {
    const root = tempRoot();
    const experiment = await new Experiment("cost/flushes", { dashRoot: root }).start();
    const track = experiment.track("t");
    const dir = join(root, "cost/flushes/tracks/t");
    let most = 0;
    for (let i = 0; i < 2000; i++) {
      track.append({ i }, i);
      await experiment.flush();
      if (i % 50 === 0) most = Math.max(most, segments(dir).length);
    }
    await until("compaction", () => segments(dir).length <= 40);
    expect(most).toBeLessThanOrEqual(40);
    expect(experiment.stats().compactions).toBeGreaterThan(0);
    const meta = JSON.parse(readFileSync(join(dir, "metadata.json"), "utf8")) as { segments: unknown[]; totalEntries: number };
    expect(meta.totalEntries).toBe(2000);
    expect(meta.segments.length).toBeLessThanOrEqual(40);
    const { entries } = await track.read();
    expect(entries.map((e) => e.i)).toEqual(entries.map((_, k) => k));

    // Flushes queued back to back never let the writer idle: compaction must keep up anyway.
    const flushes: Promise<void>[] = [];
    for (let i = 2000; i < 4000; i++) {
      track.append({ i }, i);
      flushes.push(experiment.flush());
    }
    await Promise.all(flushes);
    expect(segments(dir).length).toBeLessThanOrEqual(40);
    expect((await track.read()).count).toBe(4000);
    await experiment.complete();
  });

  it("sealing many tracks is one group commit, not a sync per track", async () => {
    const root = tempRoot();
    const experiment = await new Experiment("cost/topics", { dashRoot: root }).start();
    for (let i = 0; i < 1000; i++) experiment.track(`topic/${i}`).append({ v: i }, 1);
    const before = experiment.stats().commits;
    await experiment.flush();
    const { commits, sealsByRequest } = experiment.stats();
    expect(sealsByRequest).toBe(1000);
    expect(commits - before).toBe(1);
    expect((await experiment.tracks.list("topic/*")).length).toBe(1000);
    await experiment.complete();
  });

  it("file saves do not rewrite the record file each time: it is written once per flush", async () => {
    const root = tempRoot();
    const experiment = await new Experiment("cost/files", { dashRoot: root }).start();
    const records = join(root, "cost/files/files/.files_metadata.json");
    for (let i = 0; i < 500; i++) experiment.files("f").save(`${i}`, { to: `${i}.txt` });
    // Listing and reading see the saves at once (the engine's records), before any flush.
    expect(await experiment.files("f").list()).toHaveLength(500);
    expect((await experiment.files("f").read("499.txt")).toString()).toBe("499");
    expect(existsSync(records)).toBe(false);
    await experiment.flush();
    expect((JSON.parse(readFileSync(records, "utf8")) as { files: unknown[] }).files).toHaveLength(500);
    await experiment.complete();
    const reader = await Experiment.open("cost/files", { dashRoot: root });
    expect(await reader.files("f").list()).toHaveLength(500);
    await reader.close();
  });

  it("an entry with 100,000 keys is flushed, read and listed (no step costs the square of the columns)", async () => {
    const root = tempRoot();
    await new Experiment("cost/wide", { dashRoot: root }).run(async (e) => {
      const entry: Record<string, number> = {};
      for (let k = 0; k < 100_000; k++) entry[`k${k}`] = k;
      e.track("t").append(entry, 1);
      await e.flush();
      const { entries } = await e.track("t").read();
      expect(Object.keys(entries[0] ?? {})).toHaveLength(100_001);
      expect(entries[0]?.k99999).toBe(99_999);
      expect((await e.tracks.list())[0]?.columns).toHaveLength(100_000);
    });
  }, 120_000);
});
