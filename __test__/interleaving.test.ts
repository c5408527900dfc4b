/**
 * Any interleaving of the public calls is safe: random programs issue appends, flushes, reads,
 * lists, exports, metrics, logs, file saves and `complete()` without waiting for one another.
 * Every failure is a coded `ERR_DASH_*` error (never a raw binding error), and what was appended
 * before `complete()` is exactly what a reader finds afterwards (checked against a model;
 * fast-check shrinks a failing program to a minimal one).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Experiment } from "../src/index.js";
import { tempRoot } from "./helpers.js";

type Op =
  | { kind: "append"; topic: number; ts: number; v: number }
  | { kind: "flush" | "trackFlush" | "read" | "list" | "export" | "complete" | "metric" | "log" | "file" | "stats" };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("append" as const), topic: fc.nat(2), ts: fc.nat(20), v: fc.integer() }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constantFrom(
        "flush" as const,
        "trackFlush" as const,
        "read" as const,
        "list" as const,
        "export" as const,
        "complete" as const,
        "metric" as const,
        "log" as const,
        "file" as const,
        "stats" as const,
      ),
    }),
  },
);

function coded(error: unknown): boolean {
  return typeof (error as { code?: unknown }).code === "string" && (error as { code: string }).code.startsWith("ERR_DASH_");
}

let run = 0;

describe("interleavings of the public API", () => {
  it("random programs without awaits: only coded errors, and the model's rows", async () => {
    const root = tempRoot();
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        const prefix = `mix/run${run++}`;
        const experiment = await new Experiment(prefix, { dashRoot: root }).start();
        const model = [new Map<number, number>(), new Map<number, number>(), new Map<number, number>()];
        const pending: Promise<unknown>[] = [];
        const failures: unknown[] = [];
        let completed = false;
        for (const o of ops) {
          try {
            switch (o.kind) {
              case "append":
                experiment.track(`t${o.topic}`).append({ v: o.v }, o.ts);
                if (completed) throw new Error("append after complete() did not throw");
                model[o.topic]?.set(o.ts, o.v);
                break;
              case "flush":
                pending.push(experiment.flush());
                break;
              case "trackFlush":
                pending.push(experiment.track("t0").flush());
                break;
              case "read":
                pending.push(experiment.track("t1").read());
                break;
              case "list":
                pending.push(experiment.tracks.list());
                break;
              case "export":
                pending.push(experiment.exportMlDash());
                break;
              case "complete":
                pending.push(experiment.complete());
                completed = true;
                break;
              case "metric":
                experiment.metrics("m").log({ x: 1 });
                break;
              case "log":
                experiment.log("line");
                break;
              case "file":
                experiment.files("f").save("x", { to: "x.txt" });
                break;
              case "stats":
                experiment.stats();
                break;
            }
          } catch (error) {
            failures.push(error);
          }
        }
        for (const result of await Promise.allSettled(pending)) {
          if (result.status === "rejected") failures.push(result.reason);
        }
        await experiment.complete();
        const uncoded = failures.filter((f) => !coded(f));
        expect(uncoded.map(String)).toEqual([]);
        const reader = await Experiment.open(prefix, { dashRoot: root });
        for (const [topic, rows] of model.entries()) {
          if (rows.size === 0) continue;
          const { entries } = await reader.track(`t${topic}`).read();
          const expected = [...rows.entries()].sort((a, b) => a[0] - b[0]).map(([timestamp, v]) => ({ timestamp, v }));
          expect(entries).toEqual(expected);
        }
        await reader.close();
      }),
      { numRuns: 150, seed: 20261201 },
    );
  });
});
