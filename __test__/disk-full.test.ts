/**
 * A full disk (a 512 KiB tmpfs in a private mount namespace): the failing flush rejects with
 * ERR_DASH_IO saying what was lost, the loss is counted, durable rows stay readable, and writing
 * resumes once there is space again.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempRoot } from "./helpers.js";

const fixture = join(__dirname, "fixtures", "disk-full.cjs");

describe("disk full", () => {
  it("ENOSPC: flush rejects with a code, losses are counted, nothing durable is damaged, writing resumes", () => {
    const root = tempRoot();
    const script = `mount -t tmpfs -o size=512k tmpfs "$1" && exec "$2" "$3" "$1"`;
    const child = spawnSync("unshare", ["-rm", "sh", "-c", script, "sh", root, process.execPath, fixture], {
      encoding: "utf8",
      timeout: 120_000,
    });
    expect(child.status, child.stderr).toBe(0);
    const report = JSON.parse(child.stdout.trim().split("\n").pop() as string);
    expect(report.failure).toMatchObject({ code: "ERR_DASH_IO" });
    expect(report.failure.message).toMatch(/No space left|ENOSPC|os error 28/i);
    expect(report.failure.message).toMatch(/rows of track "noise"/);
    // The operating-system error is the cause, named as Node names its own.
    expect(report.failure.cause).toMatchObject({ code: "ENOSPC" });
    expect(report.failure.cause.message).toMatch(/No space left/);
    // Every row of a flush that resolved is there; the rows of the failed flush are counted lost.
    const lost = report.afterFailure.entriesLost;
    expect(lost).toBeGreaterThan(0);
    expect(report.afterFailure.entriesDurable + lost).toBe(report.appended);
    expect(report.resumed).toBe(true);
    const steps: number[] = report.steps;
    expect(steps.slice(0, report.durable)).toEqual(Array.from({ length: report.durable }, (_, i) => i));
    expect(steps[steps.length - 1]).toBe(-1);
    expect(steps.length).toBe(report.afterFailure.entriesDurable + 1);
  });
});
