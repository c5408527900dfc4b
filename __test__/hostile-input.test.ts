/**
 * Hostile values and names: each is either stored exactly or refused with a coded
 * `TypeError`/`RangeError`, recording nothing of that call; the engine keeps working.
 */
import { describe, expect, it } from "vitest";
import { ERROR_CODES, Experiment } from "../src/index.js";
import { tempRoot } from "./helpers.js";

function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < depth; i++) value = { n: value };
  return value;
}

describe("hostile values", () => {
  it("a field named __proto__ is data: stored, read back as an own property, never a prototype", async () => {
    await new Experiment("h/proto", { dashRoot: tempRoot() }).run(async (e) => {
      const track = e.track("t");
      track.append(JSON.parse('{"__proto__": 5, "x": 1}') as Record<string, unknown>, 1);
      track.append({ ["__proto__"]: [1, 2], x: 2 }, 2);
      const { entries } = await track.read();
      expect(entries).toHaveLength(2);
      for (const entry of entries) expect(Object.getPrototypeOf(entry)).toBe(Object.prototype);
      expect(Object.getOwnPropertyDescriptor(entries[0], "__proto__")?.value).toBe(5);
      expect(Object.getOwnPropertyDescriptor(entries[1], "__proto__")?.value).toEqual([1, 2]);
    });
  });

  it("refuses what it cannot keep, with a code, recording nothing of that entry", async () => {
    await new Experiment("h/refuse", { dashRoot: tempRoot() }).run(async (e) => {
      const track = e.track("t");
      const refusals: [string, () => unknown, string, ErrorConstructor][] = [
        ["append()", () => (track.append as (d?: unknown) => unknown)(), "ERR_DASH_INVALID_ARGUMENT", TypeError],
        ["append(null)", () => track.append(null as never), "ERR_DASH_INVALID_ARGUMENT", TypeError],
        ["append(undefined)", () => track.append(undefined as never), "ERR_DASH_INVALID_ARGUMENT", TypeError],
        [
          "inherited fields",
          () => track.append(Object.create({ inh: 9 }) as Record<string, unknown>, 1),
          "ERR_DASH_INVALID_ARGUMENT",
          TypeError,
        ],
        ["a lone surrogate in a key", () => track.append({ "k\uD800": 1 }, 1), "ERR_DASH_UNSUPPORTED_VALUE", TypeError],
        ["a lone surrogate in a nested key", () => track.append({ a: { "k\uDC00": 1 } }, 1), "ERR_DASH_UNSUPPORTED_VALUE", TypeError],
        [
          "a lone surrogate in a key inside an array",
          () => track.append({ a: [{ "k\uD800": 1 }] }, 1),
          "ERR_DASH_UNSUPPORTED_VALUE",
          TypeError,
        ],
        ["10,000-deep objects", () => track.append(nested(10_000), 1), "ERR_DASH_VALUE_OUT_OF_RANGE", RangeError],
        ["10,000-deep objects in an array", () => track.append({ a: [nested(10_000)] }, 1), "ERR_DASH_VALUE_OUT_OF_RANGE", RangeError],
        [
          "a dotted key and a nested object naming one field",
          () => track.append({ "a.b": 1, a: { b: 2 } }, 1),
          "ERR_DASH_DUPLICATE_FIELD",
          TypeError,
        ],
        ["the same, nested object first", () => track.append({ a: { b: 2 }, "a.b": 1 }, 1), "ERR_DASH_DUPLICATE_FIELD", TypeError],
      ];
      for (const [what, call, code, type] of refusals) {
        let thrown: unknown;
        try {
          call();
        } catch (error) {
          thrown = error;
        }
        expect(thrown, what).toBeInstanceOf(type);
        expect((thrown as { code?: string }).code, what).toBe(code);
      }
      // 100 levels are fine; the engine still records.
      track.append({ ...nested(90), "a.b": 1, c: { d: 2 } }, 2);
      const { entries } = await track.read();
      expect(entries).toHaveLength(1);
      expect(entries[0]?.["a.b"]).toBe(1);
      expect(entries[0]?.["c.d"]).toBe(2);
    });
  });
});

describe("hostile names", () => {
  it("metric and file names that would collide with the layout's own files are invalid names", async () => {
    await new Experiment("h/names", { dashRoot: tempRoot() }).run(async (e) => {
      for (const name of ["a/data.jsonl", "metadata.json", "x/metadata.json/y"]) {
        expect(() => e.metrics(name).log({ v: 1 }), name).toThrow(expect.objectContaining({ code: "ERR_DASH_INVALID_NAME" }));
      }
      expect(() => e.files(".files_metadata.json").save("x", { to: "a.txt" })).toThrow(
        expect.objectContaining({ code: "ERR_DASH_INVALID_NAME" }),
      );
      e.metrics("a").log({ v: 1 });
      e.files("").save("x", { to: "a.txt" });
      await e.flush();
      expect((await e.metrics("a").read()).data).toHaveLength(1);
      expect((await e.files("").read("a.txt")).toString()).toBe("x");
    });
  });
});

describe("error codes", () => {
  it("every code the engine can raise is one of the API's ERROR_CODES", async () => {
    const { errorCodes } = await import("../src/native.js");
    const engineCodes = errorCodes();
    expect(engineCodes.length).toBeGreaterThan(10);
    expect(engineCodes.filter((code) => !(ERROR_CODES as readonly string[]).includes(code))).toEqual([]);
  });
});
