/**
 * A bounded run of the model-based chaos test (see chaos.ts): writers killed at random moments,
 * simulated power losses, a concurrent reader process, checked against the model after every
 * round. `npm run chaos -- <seconds> [seed]` runs it for longer.
 */
import { describe, expect, it } from "vitest";
import { runChaos } from "./chaos.js";
import { tempRoot } from "./helpers.js";

describe("chaos", () => {
  it("random programs, SIGKILLs, power losses and concurrent readers: nothing acknowledged lost, doubled or reverted", async () => {
    const seed = Number(process.env.CHAOS_SEED ?? 1201);
    const report = await runChaos({ root: tempRoot(), seed, rounds: 12 });
    expect(report.problems).toEqual([]);
    expect(report.rounds).toBe(12);
    expect(report.powerLosses).toBe(4);
    expect(report.acknowledged).toBeGreaterThan(0);
  }, 600_000);
});
