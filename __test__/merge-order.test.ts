/** Merging and ordering: what a reader sees never depends on when flushes happened. */
import { describe, expect, it } from "vitest";
import { Experiment } from "../src/index.js";
import { expectSegmentsMatch, segmentFiles, tempRoot, trackDir } from "./helpers.js";

type Append = { ts: number; data: Record<string, unknown> };

/** A deterministic pseudo-random sequence (mulberry32). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function record(appends: Append[], flushAfter: Set<number>): Promise<{ entries: unknown[]; dir: string }> {
  const experiment = await new Experiment("merge/case", { dashRoot: tempRoot() }).start();
  const track = experiment.track("sensors/merged");
  for (const [i, { ts, data }] of appends.entries()) {
    track.append(data, ts);
    if (flushAfter.has(i)) await experiment.flush();
  }
  const { entries } = await track.read();
  await experiment.complete();
  return { entries, dir: trackDir(experiment, "sensors/merged") };
}

describe("merging and ordering", () => {
  it("merges equal timestamps across flush boundaries, last write wins per field", async () => {
    const experiment = await new Experiment("merge/flush", { dashRoot: tempRoot() }).start();
    const track = experiment.track("multi");
    track.append({ temperature: 25, status: "warm" }, 10);
    await experiment.flush();
    track.append({ pressure: 1013 }, 10);
    await track.flush();
    track.append({ temperature: 26 }, 10);
    track.append({ humidity: 0.4 }, 11);
    expect((await track.read()).entries).toEqual([
      { timestamp: 10, temperature: 26, status: "warm", pressure: 1013 },
      { timestamp: 11, humidity: 0.4 },
    ]);
    await experiment.complete();
    const dir = trackDir(experiment, "multi");
    await expectSegmentsMatch(dir, [
      { timestamp: 10, temperature: 26, status: "warm", pressure: 1013 },
      { timestamp: 11, humidity: 0.4 },
    ]);
    expect(segmentFiles(dir).length).toBeGreaterThanOrEqual(1);
  });

  it("nested objects merge key by key", async () => {
    const experiment = await new Experiment("merge/nested", { dashRoot: tempRoot() }).start();
    const track = experiment.track("camera");
    track.append({ camera: { pos: [1, 2, 3], fov: 60 } }, 1);
    await experiment.flush();
    track.append({ camera: { fov: 75, rot: { yaw: 0.5 } } }, 1);
    expect((await track.read()).entries).toEqual([{ timestamp: 1, "camera.pos": [1, 2, 3], "camera.fov": 75, "camera.rot.yaw": 0.5 }]);
    await experiment.complete();
  });

  it("out-of-order appends read back sorted, before and after flushes", async () => {
    const experiment = await new Experiment("merge/order", { dashRoot: tempRoot() }).start();
    const track = experiment.track("unordered");
    for (const ts of [5, 1, 4]) track.append({ v: ts }, ts);
    await experiment.flush();
    for (const ts of [3, 2, 6, 0]) track.append({ v: ts }, ts);
    const expected = [0, 1, 2, 3, 4, 5, 6].map((ts) => ({ timestamp: ts, v: ts }));
    expect((await track.read()).entries).toEqual(expected);
    expect((await track.read({ start: 2, end: 4 })).entries).toEqual(expected.slice(2, 5));
    await experiment.complete();
    await expectSegmentsMatch(trackDir(experiment, "unordered"), expected);
  });

  it("random appends with random flush points read back as with no flushes", async () => {
    for (let seed = 1; seed <= 8; seed++) {
      const next = random(seed);
      const appends: Append[] = Array.from({ length: 300 }, () => {
        const field = ["a", "b", "c"][Math.floor(next() * 3)] as string;
        return { ts: Math.floor(next() * 60) / 4, data: { [field]: Math.floor(next() * 1000) } };
      });
      const flushes = new Set(Array.from({ length: 6 }, () => Math.floor(next() * appends.length)));
      const withFlushes = await record(appends, flushes);
      const withoutFlushes = await record(appends, new Set());
      expect(withFlushes.entries, `seed ${seed}`).toEqual(withoutFlushes.entries);
      await expectSegmentsMatch(withFlushes.dir, withFlushes.entries as never);
    }
  });

  it("_ts in data: explicit, -1 inherits the last timestamp of any track, removed from fields", async () => {
    const experiment = await new Experiment("merge/ts", { dashRoot: tempRoot() }).start();
    experiment.track("a").append({ x: 1, _ts: 100.5 });
    experiment.track("b").append({ y: 2, _ts: -1 });
    experiment.track("b").append({ z: 3 }, { timestamp: 7 });
    experiment.track("a").append({ w: 4, _ts: -1 });
    expect((await experiment.track("a").read()).entries).toEqual([
      { timestamp: 7, w: 4 },
      { timestamp: 100.5, x: 1 },
    ]);
    expect((await experiment.track("b").read()).entries).toEqual([
      { timestamp: 7, z: 3 },
      { timestamp: 100.5, y: 2 },
    ]);
    await experiment.complete();
  });

  it("automatic timestamps are wall-clock seconds and strictly increasing", async () => {
    const experiment = await new Experiment("merge/auto", { dashRoot: tempRoot() }).start();
    const before = Date.now() / 1000;
    const track = experiment.track("fast");
    for (let i = 0; i < 20_000; i++) track.append({ i });
    const after = Date.now() / 1000;
    const { entries } = await track.read();
    expect(entries).toHaveLength(20_000);
    expect(entries.every((e, i) => e.i === i && (i === 0 || e.timestamp > (entries[i - 1]?.timestamp as number)))).toBe(true);
    expect(entries[0]?.timestamp).toBeGreaterThanOrEqual(before - 0.01);
    expect(entries[19_999]?.timestamp).toBeLessThanOrEqual(after + 1);
    // The coarse clock keeps ticking: an append after a pause is stamped after the pause.
    await new Promise((resolve) => setTimeout(resolve, 300));
    track.append({ i: 20_000 });
    const late = (await track.read({ start: after + 0.2 })).entries;
    expect(late.map((e) => e.i)).toEqual([20_000]);
    expect(late[0]?.timestamp).toBeLessThanOrEqual(Date.now() / 1000 + 1);
    await experiment.complete();
  });
});
