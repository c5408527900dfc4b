/**
 * Hostile input, property-based: any JS value appended either is stored and reads back as the same
 * value, or throws a TypeError/RangeError with a `code` and records nothing; the engine stays usable.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Experiment } from "../src/index.js";
import { tempRoot } from "./helpers.js";

/** What the engine promises to give back for an appended field value (flattening aside). */
function storable(value: unknown): boolean {
  return value !== undefined && typeof value !== "function" && typeof value !== "symbol";
}

describe("fuzzing append", () => {
  it("every value is stored losslessly or refused with a coded error, and nothing else happens", async () => {
    const experiment = await new Experiment("fuzz/append", { dashRoot: tempRoot() }).start();
    const track = experiment.track("fuzz");
    let timestamp = 0;
    const accepted: { timestamp: number; value: unknown }[] = [];
    fc.assert(
      fc.property(
        fc.anything({
          withBigInt: true,
          withTypedArray: true,
          withNullPrototype: true,
          withMap: true,
          withDate: true,
          withSparseArray: true,
        }),
        (value) => {
          timestamp += 1;
          try {
            track.append({ value }, timestamp);
            accepted.push({ timestamp, value });
          } catch (error) {
            expect(error instanceof TypeError || error instanceof RangeError, String(error)).toBe(true);
            expect((error as { code?: string }).code).toMatch(/^ERR_DASH_/);
          }
        },
      ),
      { numRuns: 2000 },
    );
    const { entries } = await track.read();
    expect(entries.map((e) => e.timestamp)).toEqual(accepted.map((a) => a.timestamp));
    for (const [i, entry] of entries.entries()) {
      const { value } = accepted[i] as { value: unknown };
      const { timestamp: _, ...fields } = entry;
      if (value !== null && typeof value === "object" && !Array.isArray(value) && !ArrayBuffer.isView(value)) {
        // Plain objects flatten to dotted names; check each leaf is found under its path. An empty
        // object is no field (as the SDK's flattening drops it).
        const leaves: [string, unknown][] = [];
        const walk = (o: Record<string, unknown>, prefix: string) => {
          const keys = Object.keys(o).filter((k) => storable(o[k]));
          if (keys.length === 0) leaves.push([prefix, undefined]);
          for (const k of keys) {
            const v = o[k];
            if (v !== null && typeof v === "object" && !Array.isArray(v) && !ArrayBuffer.isView(v))
              walk(v as Record<string, unknown>, `${prefix}.${k}`);
            else leaves.push([`${prefix}.${k}`, v]);
          }
        };
        walk(value as Record<string, unknown>, "value");
        for (const [path, leaf] of leaves) expect(fields[path], path).toEqual(leaf);
      } else {
        expect(fields.value).toEqual(value);
      }
    }
    track.append({ still: "usable" }, timestamp + 1);
    expect((await track.read({ start: timestamp + 1 })).entries).toEqual([{ timestamp: timestamp + 1, still: "usable" }]);
    await experiment.complete();
  });
});
