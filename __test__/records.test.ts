/** Logs, metrics and parameters: the ml-dash SDK's files and shapes. */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Experiment } from "../src/index.js";
import { pythonJson } from "../src/python-json.js";
import { python, readJson, runsWithPython, tempRoot } from "./helpers.js";

function jsonLines(path: string): Record<string, unknown>[] {
  return readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line.replace(/\bNaN\b/g, '"NaN"')) as Record<string, unknown>);
}

describe("logs", () => {
  it("writes logs/logs.jsonl with sequence numbers continuing across runs", async () => {
    const root = tempRoot();
    await new Experiment("rec/logs", { dashRoot: root }).run((e) => {
      e.log("Starting robot tracking experiment");
      e.log("careful", { level: "warn", metadata: { step: 4, ok: true, name: "é" } });
      e.logs.error("broken", { code: 7 });
    });
    await new Experiment("rec/logs", { dashRoot: root }).run((e) => e.logs.debug("second run"));
    const lines = jsonLines(join(root, "rec/logs/logs/logs.jsonl"));
    expect(lines.map(({ timestamp: _, ...rest }) => rest)).toEqual([
      { sequenceNumber: 0, level: "info", message: "Starting robot tracking experiment" },
      { sequenceNumber: 1, level: "warn", message: "careful", metadata: { step: 4, ok: true, name: "é" } },
      { sequenceNumber: 2, level: "error", message: "broken", metadata: { code: 7 } },
      { sequenceNumber: 3, level: "debug", message: "second run" },
    ]);
    expect(lines.every((l) => typeof l.timestamp === "string" && !Number.isNaN(Date.parse(l.timestamp as string)))).toBe(true);
  });

  it("refuses bad levels, messages and metadata with codes", async () => {
    const experiment = await new Experiment("rec/bad-logs", { dashRoot: tempRoot() }).start();
    expect(() => experiment.log("x", { level: "loud" as "info" })).toThrow(
      expect.objectContaining({ name: "RangeError", code: "ERR_DASH_INVALID_ARGUMENT" }),
    );
    expect(() => experiment.log(5 as unknown as string)).toThrow(
      expect.objectContaining({ name: "TypeError", code: "ERR_DASH_INVALID_ARGUMENT" }),
    );
    expect(() => experiment.log("x", { metadata: { v: () => 1 } })).toThrow(
      expect.objectContaining({ code: "ERR_DASH_UNSUPPORTED_VALUE" }),
    );
    expect(() => experiment.log("\ud800")).toThrow(expect.objectContaining({ code: "ERR_DASH_UNSUPPORTED_VALUE" }));
    experiment.log("still usable");
    await experiment.complete();
    expect(jsonLines(join(experiment.dir as string, "logs/logs.jsonl"))).toHaveLength(1);
  });
});

describe("metrics", () => {
  it("logs points with _ts rules (shared with tracks) and reads them back in the SDK's shape", async () => {
    const experiment = await new Experiment("rec/metrics", { dashRoot: tempRoot() }).start();
    const train = experiment.metrics("train");
    expect(experiment.metrics("train")).toBe(train);
    train.log({ loss: 0.5, step: 1, _ts: 100 });
    experiment.track("robot/position").append({ x: 1, _ts: -1 }); // shares the metric's 100
    train.log({ loss: Number.NaN, step: 2 }); // automatic
    experiment.track("robot/position").append({ x: 2 }, 200);
    train.log({ loss: 0.25, step: 3, _ts: -1 }); // shares the track's 200
    const all = await train.read();
    expect(all).toMatchObject({ startIndex: 0, endIndex: 2, total: 3, hasMore: false });
    expect(all.data.map((p) => [p.index, p.data])).toEqual([
      [0, { loss: 0.5, step: 1, _ts: 100 }],
      [1, { loss: Number.NaN, step: 2, _ts: expect.any(Number) }],
      [2, { loss: 0.25, step: 3, _ts: 200 }],
    ]);
    expect((await experiment.track("robot/position").read()).entries).toEqual([
      { timestamp: 100, x: 1 },
      { timestamp: 200, x: 2 },
    ]);
    expect(await train.read({ startIndex: 1, limit: 1 })).toMatchObject({ startIndex: 1, endIndex: 1, total: 1, hasMore: true });
    expect(await experiment.metrics("empty").read()).toEqual({ data: [], startIndex: 0, endIndex: -1, total: 0, hasMore: false });
    await expect(train.read({ startIndex: -1 })).rejects.toMatchObject({ code: "ERR_DASH_INVALID_ARGUMENT" });
    expect(() => experiment.metrics("../escape").log({ v: 1 })).toThrow(
      expect.objectContaining({ name: "TypeError", code: "ERR_DASH_INVALID_NAME" }),
    );
    await experiment.complete();
    const meta = readJson(join(experiment.dir as string, "metrics/train/metadata.json"));
    expect(meta).toMatchObject({ metricId: "local-metric-train", name: "train", totalDataPoints: 3, nextIndex: 3 });
  });
});

describe("params", () => {
  it("flattens, merges and versions parameters.json", async () => {
    const experiment = await new Experiment("rec/params", { dashRoot: tempRoot() }).start();
    expect(experiment.params.get()).toEqual({});
    experiment.params.set({ lr: 0.001, model: { layers: 3, act: "relu" } });
    expect(experiment.params.set({ lr: 0.01, seeds: [1, 2] })).toEqual({ lr: 0.01, "model.layers": 3, "model.act": "relu", seeds: [1, 2] });
    expect(experiment.params.get()).toEqual({ lr: 0.01, "model.layers": 3, "model.act": "relu", seeds: [1, 2] });
    expect(readJson(join(experiment.dir as string, "parameters.json"))).toMatchObject({ version: 2 });
    // As the SDK's json.dump: non-finite numbers as Python's literals, read back as numbers; a
    // string that looks like the reader's marker for them stays a string.
    experiment.params.set({ nan: Number.NaN, inf: -Infinity, marker: "\u0000NaN" });
    expect(experiment.params.get()).toMatchObject({ nan: Number.NaN, inf: -Infinity, marker: "\u0000NaN" });
    expect(readFileSync(join(experiment.dir as string, "parameters.json"), "utf8")).toContain(
      '"nan": NaN, "inf": -Infinity, "marker": "\\u0000NaN"',
    );
    expect(() => experiment.params.set({ bad: () => 1 })).toThrow(expect.objectContaining({ code: "ERR_DASH_UNSUPPORTED_VALUE" }));
    expect(() => experiment.params.set([] as unknown as Record<string, unknown>)).toThrow(expect.objectContaining({ name: "TypeError" }));
    await experiment.complete();
  });
});

describe.runIf(runsWithPython("ml_dash"))("records match the Python SDK's, field by field", () => {
  it("logs, metric points and metadata, parameters have the SDK's fields", async () => {
    const root = tempRoot();
    execFileSync(python, [join(__dirname, "python", "sdk_write.py"), root, "sdk/records/run"], { timeout: 120_000 });
    await new Experiment("ours/records/run", { dashRoot: root }).run((e) => {
      e.log("starting", { level: "info" });
      e.params.set({ lr: 0.001, model: { layers: 3, act: "relu" } });
      e.metrics("train").log({ loss: 0.5, step: 1 });
      e.log("done", { level: "warn" });
    });
    const sdk = join(root, "sdk/records/run");
    const ours = join(root, "ours/records/run");
    const keys = (o: Record<string, unknown>) => Object.keys(o).sort();
    const strip = (o: Record<string, unknown>, ...names: string[]) =>
      Object.fromEntries(Object.entries(o).filter(([k]) => !names.includes(k)));

    const sdkLogs = jsonLines(join(sdk, "logs/logs.jsonl"));
    const ourLogs = jsonLines(join(ours, "logs/logs.jsonl"));
    expect(ourLogs.map((l) => strip(l, "timestamp"))).toEqual(sdkLogs.map((l) => strip(l, "timestamp")));
    expect(ourLogs.map(keys)).toEqual(sdkLogs.map(keys));

    const sdkPoints = jsonLines(join(sdk, "metrics/train/data.jsonl"));
    const ourPoints = jsonLines(join(ours, "metrics/train/data.jsonl"));
    expect(ourPoints.map(keys)).toEqual(sdkPoints.map(keys));
    expect(ourPoints.map((p) => keys(p.data as Record<string, unknown>))).toEqual(
      sdkPoints.map((p) => keys(p.data as Record<string, unknown>)),
    );
    expect(strip(ourPoints[0] as Record<string, unknown>, "createdAt", "data")).toEqual(
      strip(sdkPoints[0] as Record<string, unknown>, "createdAt", "data"),
    );

    const sdkMeta = readJson(join(sdk, "metrics/train/metadata.json"));
    const ourMeta = readJson(join(ours, "metrics/train/metadata.json"));
    expect(keys(ourMeta)).toEqual(keys(sdkMeta));
    expect(strip(ourMeta, "createdAt", "updatedAt")).toEqual(strip(sdkMeta, "createdAt", "updatedAt"));

    const sdkParams = readJson(join(sdk, "parameters.json"));
    const ourParams = readJson(join(ours, "parameters.json"));
    expect(keys(ourParams)).toEqual(keys(sdkParams));
    expect(strip(ourParams, "createdAt", "updatedAt")).toEqual(strip(sdkParams, "createdAt", "updatedAt"));
  });
});

describe.runIf(runsWithPython("json"))("floats are written as Python writes them", () => {
  it("metric points (TypeScript) and exported track rows (Rust) spell every float as Python's repr", async () => {
    const values = fc
      .sample(fc.double({ noNaN: true, noDefaultInfinity: true }), { numRuns: 1000, seed: 20261201 })
      .concat([1e15, 1e16, 1.5e16, 1e-4, 1e-5, 1.5e-7, 5e-324, 1.7976931348623157e308, -0, 0.1]);
    const script = "import json, sys\nprint(json.dumps([repr(float(v)) for v in json.load(sys.stdin)]))";
    // JSON has no -0: it travels as the text "-0", which float() reads back as -0.0.
    const input = JSON.stringify(values.map((v) => (Object.is(v, -0) ? "-0" : v)));
    const reprs = JSON.parse(execFileSync(python, ["-c", script], { input, encoding: "utf8" })) as string[];
    // TypeScript: exact integers are ints (as Python writes an int), others Python's float repr.
    const ours = values.map((v) => pythonJson(v, "v"));
    const expected = values.map((v, i) => (Number.isSafeInteger(v) && !Object.is(v, -0) ? JSON.stringify(v) : reprs[i]));
    expect(ours).toEqual(expected);
    // Rust: the engine's floats (all doubles) in an exported data.jsonl.
    const experiment = await new Experiment("rec/floats", { dashRoot: tempRoot() }).start();
    for (const [i, v] of values.entries()) experiment.track("t").append({ v }, i);
    await experiment.exportMlDash();
    const lines = readFileSync(join(experiment.dir as string, "tracks/t/data.jsonl"), "utf8")
      .trim()
      .split("\n");
    expect(lines.map((line) => /"v": ([^,}]+)/.exec(line)?.[1])).toEqual(reprs);
    await experiment.complete();
  });
});
