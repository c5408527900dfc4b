/** The `dash-ingest` command line, run as a user would run it. */
import { spawnSync } from "node:child_process";
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
    const badFormat = run(["export", "no/such", "--format", "csv", "--dash-root", root]);
    expect(badFormat.status).toBe(2);
    expect(badFormat.stderr).toContain('unsupported --format "csv"');
    expect(run(["frobnicate"]).status).toBe(2);
    expect(run(["--bogus"]).status).toBe(2);
    const help = run(["--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("Usage: dash-ingest");
  });
});
