/** Experiment lifecycle, experiment.json, configuration. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Experiment } from "../src/index.js";
import { readJson, segmentFiles, tempRoot, trackDir } from "./helpers.js";

const savedEnv = { ...process.env };
afterEach(() => {
  for (const key of Object.keys(process.env)) if (key.startsWith("ML_DASH_")) delete process.env[key];
  Object.assign(process.env, savedEnv);
});

function experimentJson(experiment: Experiment): Record<string, unknown> {
  return readJson(join(experiment.dir as string, "experiment.json"));
}

describe("lifecycle", () => {
  it("start() writes the ml-dash experiment fields; complete() records COMPLETED", async () => {
    const experiment = new Experiment("robotics/training", {
      dashRoot: tempRoot(),
      tags: ["mujoco"],
      description: "two-link arm",
    });
    expect(experiment.status).toBeUndefined();
    await experiment.start();
    expect(experiment.dir).toBe(join(experiment.dashRoot, "robotics/training"));
    expect(experimentJson(experiment)).toMatchObject({
      name: "training",
      project: "training", // as the SDK: "robotics/training" is owner "robotics", project and name "training"
      prefix: "robotics/training",
      description: "two-link arm",
      tags: ["mujoco"],
      bindrs: [],
      status: "RUNNING",
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/),
    });
    await experiment.complete();
    expect(experiment.status).toBe("COMPLETED");
    expect(experimentJson(experiment).status).toBe("COMPLETED");
    await experiment.complete(); // idempotent
  });

  it("run(): resolves with fn's result; on throw marks FAILED, keeps data, rethrows", async () => {
    const root = tempRoot();
    expect(await new Experiment("p/ok", { dashRoot: root }).run(() => 42)).toBe(42);
    const failing = new Experiment("p/failing", { dashRoot: root });
    const boom = new Error("boom");
    await expect(
      failing.run((experiment) => {
        experiment.track("t").append({ v: 1 }, 1);
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(experimentJson(failing).status).toBe("FAILED");
    expect(segmentFiles(trackDir(failing, "t"))).toHaveLength(1);
  });

  it("cancel() records CANCELLED; use after finishing throws ERR_DASH_CLOSED", async () => {
    const experiment = await new Experiment("p/cancel", { dashRoot: tempRoot() }).start();
    const track = experiment.track("t");
    await experiment.cancel();
    expect(experimentJson(experiment).status).toBe("CANCELLED");
    expect(() => track.append({ v: 1 })).toThrow(expect.objectContaining({ code: "ERR_DASH_CLOSED" }));
    await expect(experiment.flush()).rejects.toMatchObject({ code: "ERR_DASH_CLOSED" });
  });

  it("tracks before start() throw ERR_DASH_NOT_STARTED", () => {
    const experiment = new Experiment("p/early", { dashRoot: tempRoot() });
    expect(() => experiment.track("t")).toThrow(expect.objectContaining({ code: "ERR_DASH_NOT_STARTED" }));
  });

  it("await using completes the experiment", async () => {
    const root = tempRoot();
    {
      await using experiment = await new Experiment("p/using", { dashRoot: root }).start();
      experiment.track("t").append({ v: 1 }, 1);
    }
    expect(readJson(join(root, "p/using/experiment.json")).status).toBe("COMPLETED");
  });

  it("track(topic) and tracks(topic) return the same cached builder; tracks.flush() flushes", async () => {
    const experiment = await new Experiment("p/cache", { dashRoot: tempRoot() }).start();
    expect(experiment.tracks("a/b")).toBe(experiment.track("a/b"));
    experiment.tracks("a/b").append({ v: 1 }, 1);
    await experiment.tracks.flush();
    expect(segmentFiles(trackDir(experiment, "a/b"))).toHaveLength(1);
    await experiment.complete();
  });

  it("a second run continues the experiment: appends merge with what is there", async () => {
    const root = tempRoot();
    const first = new Experiment("p/continued", { dashRoot: root, description: "first" });
    await first.run((e) => {
      e.track("t").append({ a: 1 }, 1).append({ a: 2 }, 2);
    });
    const created = experimentJson(first).created_at;
    const second = new Experiment("p/continued", { dashRoot: root });
    await second.run(async (e) => {
      e.track("t").append({ b: 20 }, 2).append({ a: 3 }, 3);
      expect((await e.track("t").read()).entries).toEqual([
        { timestamp: 1, a: 1 },
        { timestamp: 2, a: 2, b: 20 },
        { timestamp: 3, a: 3 },
      ]);
    });
    expect(experimentJson(second)).toMatchObject({ created_at: created, description: "first", status: "COMPLETED" });
  });

  it("ML_DASH_FLUSH_INTERVAL makes data durable without an explicit flush", async () => {
    process.env.ML_DASH_FLUSH_INTERVAL = "0.2";
    const experiment = await new Experiment("p/interval", { dashRoot: tempRoot() }).start();
    experiment.track("t").append({ v: 1 });
    const dir = trackDir(experiment, "t");
    const deadline = Date.now() + 20_000;
    // The counters move after the segment is published and listed, so wait for them.
    while (experiment.stats().entriesDurable === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(segmentFiles(dir)).toHaveLength(1);
    expect(experiment.stats()).toMatchObject({ entriesDurable: 1, sealsByInterval: 1, sealsByRequest: 0 });
    await experiment.complete();
  });

  it("ML_DASH_TRACK_BATCH_SIZE sets how many entries cross to the engine at once; options win", async () => {
    process.env.ML_DASH_TRACK_BATCH_SIZE = "2";
    const fromEnv = await new Experiment("p/batch-env", { dashRoot: tempRoot() }).start();
    fromEnv.track("t").append({ v: 1 }).append({ v: 2 }).append({ v: 3 });
    expect(fromEnv.stats()).toMatchObject({ entriesCommitted: 2, entriesStaged: 1 });
    await fromEnv.complete();
    const fromOptions = await new Experiment("p/batch-opt", { dashRoot: tempRoot(), trackBatchSize: 3 }).start();
    fromOptions.track("t").append({ v: 1 }).append({ v: 2 }).append({ v: 3 });
    expect(fromOptions.stats()).toMatchObject({ entriesCommitted: 3, entriesStaged: 0 });
    await fromOptions.complete();
  });

  it("invalid configuration and arguments are RangeError/TypeError with codes", () => {
    process.env.ML_DASH_FLUSH_INTERVAL = "soon";
    expect(() => new Experiment("p/x", { dashRoot: tempRoot() })).toThrow(
      expect.objectContaining({ name: "RangeError", code: "ERR_DASH_INVALID_ARGUMENT" }),
    );
    delete process.env.ML_DASH_FLUSH_INTERVAL;
    expect(() => new Experiment("p/x", { trackBatchSize: 0 })).toThrow(expect.objectContaining({ name: "RangeError" }));
    expect(() => new Experiment(7 as unknown as string)).toThrow(expect.objectContaining({ name: "TypeError" }));
    expect(() => new Experiment("p/x", { tags: "a" as unknown as string[] })).toThrow(expect.objectContaining({ name: "TypeError" }));
  });

  it("hostile prefixes are refused and nothing is written outside dashRoot", async () => {
    const root = tempRoot();
    for (const prefix of ["../escape", "a/../../b", "/", "a\0b", ""]) {
      await expect(new Experiment(prefix, { dashRoot: join(root, "inner") }).start()).rejects.toMatchObject({
        name: "TypeError",
        code: "ERR_DASH_INVALID_NAME",
      });
    }
    expect(existsSync(join(root, "escape"))).toBe(false);
    expect(existsSync(join(root, "b"))).toBe(false);
  });
});
