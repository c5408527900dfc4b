/**
 * Compatibility with the real Python ml-dash SDK (pinned in `.ci/run`): it writes, we read; we
 * write and export, it reads. Needs a Python with `ml_dash` at `.venv-mldash/bin/python` (or
 * `DASH_INGEST_PYTHON`); `npm run setup:python` creates it. Under `CI=true` a missing environment
 * fails the suite instead of skipping it.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Experiment, type Entry } from "../src/index.js";
import { expectSegmentsMatch, python, pythonHas, readJson, segmentFiles, tempRoot, trackDir } from "./helpers.js";

const scripts = join(__dirname, "python");

const available = pythonHas("ml_dash");
const required = process.env.CI === "true";

function run(script: string, args: string[]): string {
  return execFileSync(python, [join(scripts, script), ...args], { encoding: "utf8", timeout: 120_000 });
}

interface SdkView {
  entries: Record<string, unknown>[];
  count: number;
  found: Record<string, unknown>[];
  length: number;
}

/** What the SDK reads, with its non-finite float markers turned back into numbers. */
function sdkRead(root: string, prefix: string, topic: string, query: number[]): SdkView {
  const output = run("sdk_read.py", [root, prefix, topic, JSON.stringify(query)]);
  return JSON.parse(output.trim().split("\n").pop() as string, (_key, value: unknown) => {
    if (value !== null && typeof value === "object" && "$float" in value) return Number((value as { $float: string }).$float);
    return value;
  }) as SdkView;
}

/** Our entry as the SDK sees it: typed arrays become lists, BigInt a number. */
function asSdk(entry: Entry): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(entry).map(([key, value]) => {
      if (ArrayBuffer.isView(value)) return [key, Array.from(value as unknown as ArrayLike<number | bigint>, Number)];
      if (typeof value === "bigint") return [key, Number(value)];
      return [key, value];
    }),
  );
}

describe.runIf(available || required)("Python ml-dash SDK interop", () => {
  it("has the SDK environment", () => {
    expect(available, `no Python with ml_dash at ${python}; run \`npm run setup:python\``).toBe(true);
  });

  it("records as the SDK records them: project of a two-part prefix, its directories, levels, empty metadata and parameters, the log counter", async () => {
    const root = tempRoot();
    const lines = (prefix: string) =>
      readFileSync(join(root, prefix, "logs/logs.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((line) => {
          const { timestamp: _, ...rest } = JSON.parse(line) as Record<string, unknown>;
          return rest;
        });
    const tree = (prefix: string) => ({
      project: (JSON.parse(readFileSync(join(root, prefix, "experiment.json"), "utf8")) as { project: string }).project,
      dirs: ["logs", "metrics", "files"].filter((d) => existsSync(join(root, prefix, d))),
      parameters: existsSync(join(root, prefix, "parameters.json")),
      counter: readFileSync(join(root, prefix, "logs/.log_sequence"), "utf8"),
      lines: lines(prefix),
    });
    run("sdk_records.py", [root, "team/sdk", "write"]);
    await new Experiment("team/ours", { dashRoot: root }).run((experiment) => {
      experiment.log("first", { level: "WARN" as "warn" });
      experiment.log("second", { metadata: {} });
      experiment.params.set({});
      experiment.params.set({ model: {} });
    });
    const sdk = tree("team/sdk");
    expect(sdk.project).toBe("sdk");
    expect(tree("team/ours")).toEqual({ ...sdk, project: "ours" });
    // Each continues the other's numbering.
    run("sdk_records.py", [root, "team/ours", "continue"]);
    await new Experiment("team/sdk", { dashRoot: root }).run((experiment) => experiment.log("continued"));
    expect(lines("team/ours").map((l) => l.sequenceNumber)).toEqual([0, 1, 2]);
    expect(lines("team/sdk").map((l) => l.sequenceNumber)).toEqual([0, 1, 2]);
    expect(readFileSync(join(root, "team/sdk/logs/.log_sequence"), "utf8")).toBe("3");
  });

  it("writes the SDK's bytes: logs, metric points and metadata, parameters, file records, experiment.json", async () => {
    const root = tempRoot();
    run("sdk_format.py", [root, "team/sdk"]);
    await new Experiment("team/ours", { dashRoot: root }).run((experiment) => {
      experiment.log("héllo", { level: "info", metadata: { z: 1, a: { é: [1.5, null], q: 'say "hi"\n' }, small: 1e-7 } });
      experiment.log("plain");
      experiment.metrics("train").log({ step: 0, loss: 0.5 });
      experiment.params.set({ lr: 0.1, model: { name: "ünet", layers: [64, 128] } });
      experiment.params.set({ lr: 0.2, batch: 32 });
      experiment.files("docs").save("hi", { to: "n.txt" });
    });
    /** The file with what differs from run to run (times, ids, the experiment's name) replaced. */
    const text = (prefix: string, file: string) =>
      readFileSync(join(root, prefix, file), "utf8")
        .replace(/"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"/g, '"<time>"')
        .replace(/"_ts": [\d.]+/g, '"_ts": <ts>')
        .replace(/"id": "\d+"/g, '"id": "<id>"')
        .replace(/\b(sdk|ours)\b/g, "<name>");
    for (const file of ["logs/logs.jsonl", "metrics/train/data.jsonl", "metrics/train/metadata.json", "files/.files_metadata.json"]) {
      expect(text("team/ours", file), file).toBe(text("team/sdk", file));
    }
    // Where we keep more (documented): parameters keep createdAt; experiment.json gains our fields at its end.
    expect(text("team/ours", "parameters.json")).toBe(
      text("team/sdk", "parameters.json").replace(', "updatedAt"', ', "createdAt": "<time>", "updatedAt"'),
    );
    const ours = text("team/ours", "experiment.json");
    expect(ours.startsWith(text("team/sdk", "experiment.json").slice(0, -1))).toBe(true);
    expect(ours).toMatch(/, "status": "COMPLETED"\}$/);
  });

  it("reads an experiment written by the SDK: tracks entry by entry, slices, list", async () => {
    const root = tempRoot();
    run("sdk_write.py", [root, "alice/robotics/sdk-run"]);
    await using experiment = await Experiment.open("alice/robotics/sdk-run", { dashRoot: root });
    const queries = [1000, 1003.25, 1024.5, 2000];
    for (const topic of ["robot/position", "robot/events"]) {
      const sdk = sdkRead(root, "alice/robotics/sdk-run", topic, queries);
      const ours = await experiment.track(topic).read();
      expect(ours.count).toBe(sdk.count);
      expect(ours.entries).toEqual(sdk.entries);
      const slice = await experiment.track(topic).slice();
      expect(slice.length).toBe(sdk.length);
      expect(slice.findByTime(queries)).toEqual(sdk.found);
    }
    const position = (await experiment.track("robot/position").read()).entries;
    expect(position[7]).toMatchObject({ step: 7, y: Number.NaN, label: "pos-7-é", "camera.fov": 67, q: [0.7000000000000001, 0.2, 0.3] });
    expect(await experiment.tracks.list("robot/*")).toEqual([
      { topic: "robot/events", totalEntries: 5, columns: ["kind", "note", "ok"], firstTimestamp: 1000, lastTimestamp: 1020 },
      {
        topic: "robot/position",
        totalEntries: 50,
        columns: ["camera.fov", "camera.pos", "label", "q", "step", "x", "y"],
        firstTimestamp: 1000,
        lastTimestamp: 1024.5,
      },
    ]);
    expect(() => experiment.track("robot/position").append({ x: 1 })).toThrow(expect.objectContaining({ code: "ERR_DASH_READ_ONLY" }));
  });

  it("the SDK reads what this engine wrote and exported: entries, slices, floor matches", async () => {
    const root = tempRoot();
    const prefix = "bob/robotics/ours";
    const experiment = await new Experiment(prefix, { dashRoot: root }).start();
    const track = experiment.track("robot/state");
    for (let i = 49; i >= 0; i--) {
      track.append(
        {
          step: i,
          x: i / 3,
          y: i === 5 ? Number.NaN : i === 6 ? Infinity : -i,
          name: `état-${i} 🌍 "q"`,
          joints: Float32Array.of(i * 0.1, 0.5),
          list: [i, i + 0.5],
          words: ["a", `b${i}`],
          flag: i % 2 === 0,
          nothing: null,
          pose: { yaw: i * 0.01, pitch: -0.5 },
        },
        500 + i * 0.25,
      );
    }
    track.append({ extra: "merged" }, 505); // merges into step 20
    await experiment.flush();
    track.append({ late: 1 }, 500); // merges into step 0 across a flush
    await experiment.exportMlDash();
    const ours = (await track.read()).entries;
    await experiment.complete();

    const queries = [500, 500.1, 505, 512.25, 999];
    const sdk = sdkRead(root, prefix, "robot/state", queries);
    expect(sdk.count).toBe(50);
    expect(sdk.entries).toEqual(ours.map(asSdk));
    expect(sdk.length).toBe(50);
    const slice = await (await Experiment.open(prefix, { dashRoot: root })).track("robot/state").slice();
    expect(sdk.found).toEqual(slice.findByTime(queries).map(asSdk));
    expect(sdk.entries[20]).toMatchObject({ step: 20, extra: "merged" });
    expect(sdk.entries[0]).toMatchObject({ step: 0, late: 1 });
  });

  it("continuing an SDK experiment merges new appends with the SDK's rows", async () => {
    const root = tempRoot();
    run("sdk_write.py", [root, "carol/robotics/continued"]);
    const before = (await (await Experiment.open("carol/robotics/continued", { dashRoot: root })).track("robot/events").read()).entries;
    const experiment = await new Experiment("carol/robotics/continued", { dashRoot: root }).start();
    const track = experiment.track("robot/events");
    track.append({ kind: "resumed", extra: 1 }, 1000); // merges into the SDK's first row
    track.append({ kind: "later" }, 3000);
    const { entries } = await track.read();
    expect(entries).toEqual([{ ...before[0], kind: "resumed", extra: 1 }, ...before.slice(1), { timestamp: 3000, kind: "later" }]);
    await experiment.complete();
    const dir = trackDir(experiment, "robot/events");
    expect(segmentFiles(dir)).toHaveLength(1);
    await expectSegmentsMatch(dir, entries);
    const reopened = await Experiment.open("carol/robotics/continued", { dashRoot: root });
    expect((await reopened.track("robot/events").read()).entries).toEqual(entries);
    await reopened.exportMlDash();
    expect(sdkRead(root, "carol/robotics/continued", "robot/events", [1000]).entries).toEqual(entries);
    expect(readJson(join(dir, "metadata.json")).dataJsonl).toBe("export");
    await reopened.close();
  });
});
