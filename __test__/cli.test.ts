/** The `dash-ingest` command line, run as a user would run it. */
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Experiment } from "../src/index.js";
import { tempRoot } from "./helpers.js";

const cli = join(__dirname, "..", "dist", "cli.js");

function run(args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", timeout: 60_000 });
}

describe("dash-ingest export", () => {
  it("writes every track's data.jsonl for an experiment", async () => {
    const root = tempRoot();
    await new Experiment("cli/x", { dashRoot: root }).run((e) => {
      e.track("robot/position").append({ step: 0, x: 1.5 }, 10).append({ step: 1, x: 2.5 }, 11);
      e.track("camera").append({ frame: "frame_00000.jpg" }, 10);
    });
    const result = run(["export", "cli/x", "--format", "ml-dash", "--dash-root", root]);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout).toContain("robot/position: 2 entries");
    expect(result.stdout).toContain("exported 2 track(s) of cli/x");
    expect(readFileSync(join(root, "cli/x/tracks/robot_position/data.jsonl"), "utf8")).toBe(
      '{"timestamp": 10.0, "step": 0.0, "x": 1.5}\n{"timestamp": 11.0, "step": 1.0, "x": 2.5}\n',
    );
  });

  it("fails clearly: missing experiment (1), bad usage (2), help (0)", () => {
    const root = tempRoot();
    const missing = run(["export", "no/such", "--format", "ml-dash", "--dash-root", root]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain("ERR_DASH_NOT_FOUND");
    const badFormat = run(["export", "no/such", "--format", "xml", "--dash-root", root]);
    expect(badFormat.status).toBe(2);
    expect(badFormat.stderr).toContain('unsupported --format "xml"');
    const noTopic = run(["export", "no/such", "--format", "csv", "--dash-root", root]);
    expect(noTopic.status).toBe(2);
    expect(noTopic.stderr).toContain("needs a topic");
    expect(run(["frobnicate"]).status).toBe(2);
    expect(run(["--bogus"]).status).toBe(2);
    const help = run(["--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("Usage: dash-ingest");
  });
});

describe("dash-ingest ls, inspect, tail", () => {
  async function fixture(): Promise<string> {
    const root = tempRoot();
    await new Experiment("look/run", { dashRoot: root, tags: ["demo"] }).run((e) => {
      for (let step = 0; step < 20; step++) e.track("robot/position").append({ step, x: step / 2, q: Float32Array.of(step) }, 100 + step);
      e.metrics("train").log({ loss: 0.5 });
      e.log("hello");
      e.params.set({ lr: 0.1 });
      e.files("frames").save("x", { to: "a.txt" });
    });
    return root;
  }

  it("ls lists experiments with status, tags and counts", async () => {
    const root = await fixture();
    const result = run(["ls", root]);
    expect(result.status).toBe(0);
    const [header, row] = result.stdout.trim().split("\n");
    expect(header).toBe("experiment\tstatus\ttags\ttracks\tmetrics\tfiles\tsize");
    expect(row?.split("\t").slice(0, 6)).toEqual(["look/run", "COMPLETED", "demo", "1", "1", "1"]);
    expect(run(["ls", join(root, "nowhere")]).status).toBe(1);
  });

  it("inspect shows tracks, metrics, logs, params and files", async () => {
    const root = await fixture();
    const result = run(["inspect", "look/run", "--dash-root", root]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain("robot/position");
    expect(result.stdout).toContain("rows 20, time 100 … 119");
    expect(result.stdout).toContain("columns step: number, x: number, q: Float32Array");
    expect(result.stdout).toContain("train: 1 points");
    expect(result.stdout).toContain("logs: 1 lines");
    expect(result.stdout).toContain('params: {"lr":0.1}');
    expect(result.stdout).toContain("files: 1");
    expect(run(["inspect", "no/such", "--dash-root", root]).stderr).toContain("ERR_DASH_NOT_FOUND");
  });

  it("export writes a topic as csv, jsonl, parquet or arrow, with ranges and columns", async () => {
    const root = await fixture();
    const csv = run(["export", "look/run", "robot/position", "--format", "csv", "--start", "118", "--dash-root", root]);
    expect(csv.status, csv.stderr).toBe(0);
    expect(csv.stdout).toBe('"timestamp","step","x","q"\n118,18,9,"[18]"\n119,19,9.5,"[19]"\n');
    const jsonl = run(["export", "look/run", "robot/position", "--format", "jsonl", "--columns", "x", "--end", "100", "--dash-root", root]);
    expect(jsonl.stdout).toBe('{"timestamp": 100.0, "x": 0.0}\n');
    const out = join(tempRoot(), "pos.parquet");
    expect(run(["export", "look/run", "robot/position", "--format", "parquet", "-o", out, "--dash-root", root]).status).toBe(0);
    const { DuckDBInstance } = await import("@duckdb/node-api");
    const instance = await DuckDBInstance.create(":memory:");
    const connection = await instance.connect();
    const rows = (await connection.runAndReadAll(`SELECT count(*) AS n, max(step) AS last FROM read_parquet('${out}')`)).getRowObjectsJS();
    connection.closeSync();
    instance.closeSync();
    expect(rows).toEqual([{ n: 20n, last: 19 }]);
    const arrows = join(tempRoot(), "pos.arrows");
    expect(
      run(["export", "look/run", "robot/position", "--format", "arrow", "--start", "110", "-o", arrows, "--dash-root", root]).status,
    ).toBe(0);
    const { tableFromIPC } = await import("apache-arrow");
    const table = tableFromIPC(readFileSync(arrows));
    expect([table.numRows, Array.from(table.getChild("step") ?? [])]).toEqual([10, [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]]);
    const missing = run(["export", "look/run", "nope", "--format", "csv", "--dash-root", root]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('no track "nope"');
  });

  it("tail prints the last rows, follows new ones, and refuses unknown topics", async () => {
    const root = await fixture();
    const last = run(["tail", "look/run", "robot/position", "-n", "2", "--dash-root", root]);
    expect(last.status, last.stderr).toBe(0);
    expect(
      last.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { timestamp: 118, step: 18, x: 9, q: [18] },
      { timestamp: 119, step: 19, x: 9.5, q: [19] },
    ]);
    const missing = run(["tail", "look/run", "nope", "--dash-root", root]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('no track "nope"');

    const follower = spawn(process.execPath, [cli, "tail", "look/run", "robot/position", "-n", "1", "--follow", "--dash-root", root]);
    let output = "";
    follower.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    try {
      const until = async (text: string) => {
        const deadline = Date.now() + 20_000;
        while (!output.includes(text) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      };
      await until('"step":19');
      const writer = await new Experiment("look/run", { dashRoot: root }).start();
      writer.track("robot/position").append({ step: 20, x: 10 }, 120);
      await writer.complete();
      await until('"step":20');
      expect(
        output
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l).step),
      ).toEqual([19, 20]);
    } finally {
      follower.kill();
    }
  });
});
