/**
 * Overload: a producer appending flat out into a tiny queue, so the writer falls behind. Memory
 * stays bounded (peak RSS of the child, not the JS heap), the default policy loses nothing, and
 * "drop" and "throw" count exactly. A longer soak: DASH_INGEST_SOAK_SECONDS=60 npm test.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempRoot } from "./helpers.js";

const seconds = process.env.DASH_INGEST_SOAK_SECONDS ?? "2";

interface Report {
  attempted: number;
  thrown: number;
  flushError: string | null;
  rows: number;
  peakRssMiB: number;
  stats: { entriesAppended: number; entriesDurable: number; entriesDropped: number; entriesLost: number };
}

function overload(policy: "block" | "drop" | "throw" | "throw-columns"): Report {
  const child = spawnSync(process.execPath, [join(__dirname, "fixtures", "overload.cjs"), tempRoot(), policy, seconds], {
    encoding: "utf8",
    timeout: 300_000,
  });
  expect(child.status, child.stderr).toBe(0);
  return JSON.parse(child.stdout.trim().split("\n").pop() as string) as Report;
}

describe("overload", () => {
  it('"block" (default) loses nothing, and memory stays bounded', () => {
    const r = overload("block");
    expect(r.thrown).toBe(0);
    expect(r.flushError).toBeNull();
    expect(r.stats).toMatchObject({ entriesAppended: r.attempted, entriesDurable: r.attempted, entriesDropped: 0, entriesLost: 0 });
    expect(r.rows).toBe(r.attempted);
    expect(r.peakRssMiB).toBeLessThan(256);
  });

  it('"drop" drops whole batches, counts them exactly, and the next flush reports it', () => {
    const r = overload("drop");
    expect(r.stats.entriesDropped).toBeGreaterThan(0);
    expect(r.stats.entriesAppended).toBe(r.attempted);
    expect(r.stats.entriesDurable + r.stats.entriesDropped).toBe(r.stats.entriesAppended);
    expect(r.rows).toBe(r.stats.entriesDurable);
    expect(r.flushError).toBe("ERR_DASH_DROPPED");
    expect(r.peakRssMiB).toBeLessThan(256);
  });

  /** Under "throw": some appends were refused, and every accepted one was written. */
  function expectRefusedOrWritten(r: Report): void {
    expect(r.thrown).toBeGreaterThan(0);
    expect(r.stats.entriesAppended + r.thrown).toBe(r.attempted);
    expect(r.stats.entriesDurable).toBe(r.stats.entriesAppended);
    expect(r.rows).toBe(r.stats.entriesAppended);
    expect(r.flushError).toBeNull();
    expect(r.peakRssMiB).toBeLessThan(256);
  }

  it('"throw" refuses appends while the writer is behind; every accepted one is written', () => {
    expectRefusedOrWritten(overload("throw"));
  });

  it('"throw" under appendColumns: a block stops at the batch refused, the error names its row, and every row before it is written', () => {
    expectRefusedOrWritten(overload("throw-columns"));
  });
});
