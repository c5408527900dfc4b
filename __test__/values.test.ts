/** Values: every supported JS value reads back as the same value; unsupported ones throw clearly. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Experiment } from "../src/index.js";
import { expectSegmentsMatch, segmentFiles, tempRoot, trackDir } from "./helpers.js";

async function started(name: string): Promise<Experiment> {
  return new Experiment(`values/${name}`, { dashRoot: tempRoot() }).start();
}

const typedArrays = [
  Int8Array.of(-128, 0, 127),
  Uint8Array.of(0, 200, 255),
  Uint8ClampedArray.of(0, 128, 255),
  Int16Array.of(-32768, 5, 32767),
  Uint16Array.of(0, 65535),
  Int32Array.of(-2147483648, 2147483647),
  Uint32Array.of(0, 4294967295),
  Float32Array.of(0.1, -2.5, Number.NaN, Infinity),
  Float64Array.of(0.1, -0, Number.MAX_VALUE, Number.MIN_VALUE),
  BigInt64Array.of(-(2n ** 63n), 2n ** 63n - 1n),
  BigUint64Array.of(0n, 2n ** 64n - 1n),
];

describe("values", () => {
  it("round-trips primitives, nulls, strings with any Unicode, BigInt, arrays and nested objects", async () => {
    // Arrays of strings: plain ASCII ones are written by hand, the others through JSON.stringify.
    const stringArrays = {
      plainStrings: ["", "b c", "~!"],
      quoted: ['q"uote'],
      backslashed: ["back\\slash"],
      controls: ["tab\t", "\u007f"],
      unicode: ["é"],
      long: ["x".repeat(100)],
    };
    const experiment = await started("primitives");
    const entry = {
      n: 1.5,
      negZero: -0,
      nan: Number.NaN,
      inf: -Infinity,
      yes: true,
      no: false,
      nothing: null,
      text: 'héllo wörld 🌍 \u0000 \n "quoted" 日本語',
      empty: "",
      big: -(2n ** 63n),
      numbers: [1, 2.5, Number.NaN],
      noNumbers: [],
      strings: ["a", "b"],
      ...stringArrays,
      objects: [{ k: 1 }, { k: [true, null] }],
      nested: { a: 1, deeper: { b: "two", list: [3] } },
      emptyObject: {}, // flattens to no field, as the SDK's flattening drops it
    };
    experiment.track("all").append(entry, 1);
    const [back] = (await experiment.track("all").read()).entries;
    expect(back).toEqual({
      timestamp: 1,
      n: 1.5,
      negZero: -0,
      nan: Number.NaN,
      inf: -Infinity,
      yes: true,
      no: false,
      nothing: null,
      text: entry.text,
      empty: "",
      big: -(2n ** 63n),
      numbers: [1, 2.5, Number.NaN],
      noNumbers: [],
      strings: ["a", "b"],
      ...stringArrays,
      objects: [{ k: 1 }, { k: [true, null] }],
      "nested.a": 1,
      "nested.deeper.b": "two",
      "nested.deeper.list": [3],
    });
    expect(Object.is(back?.negZero, -0)).toBe(true);
    await experiment.complete();
  });

  it("an empty object is no field (as the SDK): a later {} at the same timestamp keeps what the object held", async () => {
    const experiment = await started("empty-object");
    const track = experiment.track("t");
    track.append({ k: { x: 1 }, n: 1 }, 5);
    await experiment.flush();
    track.append({ k: {} }, 5);
    track.append({ only: {} }, 6);
    expect((await track.read()).entries).toEqual([{ timestamp: 5, "k.x": 1, n: 1 }, { timestamp: 6 }]);
    await experiment.complete();
  });

  it("typed arrays of every element type keep their type and exact values", async () => {
    const experiment = await started("typed");
    const track = experiment.track("arrays");
    const fields = Object.fromEntries(typedArrays.map((a) => [a.constructor.name, a]));
    track.append(fields, 1);
    track.append(Object.fromEntries(typedArrays.map((a) => [a.constructor.name, a.subarray(1)])), 2);
    await experiment.flush();
    const { entries } = await track.read();
    for (const array of typedArrays) {
      const name = array.constructor.name;
      expect(entries[0]?.[name]).toBeInstanceOf(array.constructor);
      expect(entries[0]?.[name]).toEqual(array);
      expect(entries[1]?.[name]).toEqual(array.subarray(1));
    }
    await expectSegmentsMatch(trackDir(experiment, "arrays"), entries);
    await experiment.complete();
  });

  it("typed-array columns: merged by timestamp, out of order, empty, absent, across segments, then a number", async () => {
    // A small unsealed-bytes bound seals many segments of one track; the store column is written
    // contiguously until a number arrives in it.
    const experiment = await new Experiment("values/typed-columns", { dashRoot: tempRoot(), maxUnsealedBytes: 64 * 1024 }).start();
    const track = experiment.track("agent");
    const state = (i: number, n = 16) => Float32Array.from({ length: n }, (_, k) => i + k / 16);
    const expected = new Map<number, Record<string, unknown>>();
    const append = (fields: Record<string, unknown>, ts: number) => {
      track.append(fields, ts);
      expected.set(ts, { ...expected.get(ts), ...fields, timestamp: ts });
    };
    for (let i = 0; i < 3000; i++) {
      append({ step: i, state: state(i) }, i);
      if (i % 7 === 0) append({ reward: i / 2 }, i); // merges into the row just appended
      if (i % 11 === 0) append({ state: state(-i, 3) }, i); // rewrites the last row's array
      if (i % 13 === 0) append({ step: i, state: new Float32Array(0) }, i + 0.5); // empty array
      if (i % 17 === 0) append({ step: i }, i + 0.25); // no state: absent
    }
    await experiment.flush();
    for (let i = 100; i < 110; i++) append({ state: state(1000 + i, 2) }, i - 0.75); // out of order
    await experiment.flush();
    append({ step: -1, state: 5 }, 5000); // a number in the array column
    await experiment.flush();
    const want = [...expected.values()].sort((a, b) => (a.timestamp as number) - (b.timestamp as number));
    const { entries } = await track.read();
    expect(entries).toEqual(want);
    expect(segmentFiles(trackDir(experiment, "agent")).length).toBeGreaterThan(3);
    await expectSegmentsMatch(trackDir(experiment, "agent"), entries);
    await experiment.complete();
  });

  it("entries whose shape changes read back exactly (numeric fast path and general path)", async () => {
    const experiment = await started("shapes");
    const track = experiment.track("shapes");
    const entries: Record<string, unknown>[] = [
      { a: 1, b: 2 },
      { a: 3, b: 4 },
      { b: 5, a: 6 },
      { a: 7, b: "x" },
      { a: 8 },
      { a: 9, b: 10, c: 11 },
      { a: 12, b: 13 },
      { a: 14, b: 15, _ts: 100 },
      { a: 16, b: undefined },
      { a: 17, b: 18 },
      {},
    ];
    for (const [i, entry] of entries.entries()) track.append(entry, entry._ts === undefined ? i : undefined);
    const expected = entries.map((entry, i) => {
      const { _ts, ...fields } = entry;
      const defined = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
      return { timestamp: (_ts as number | undefined) ?? i, ...defined };
    });
    expected.sort((x, y) => x.timestamp - y.timestamp);
    expect((await track.read()).entries).toEqual(expected);
    await experiment.complete();
  });

  it("entries of learned shapes and near misses (a value not a number, a key more, less or moved) read back exactly: seeded, shrinking", async () => {
    // Keys a generated encoder must quote or must not read as an accessor.
    const keyPool = ["a", "b", "c", 'q"uote\\', "\u2028", "0", "7", "__proto__", "constructor", "ünï"];
    const shapeArb = fc.uniqueArray(fc.constantFrom(...keyPool), { minLength: 1, maxLength: 4 });
    const oddValue = fc.constantFrom<unknown>(undefined, "s", null, Float32Array.of(1.5), [1, 2], true);
    const entryArb = fc.record({
      shape: fc.nat(2),
      values: fc.array(fc.double(), { minLength: 4, maxLength: 4 }),
      miss: fc.constantFrom("none", "none", "none", "value", "extra", "missing", "moved"),
      odd: oddValue,
      at: fc.nat(3),
    });
    const toObject = (pairs: [string, unknown][]) => Object.fromEntries(pairs); // own "__proto__" too
    const sorted = (entry: object) => Object.entries(entry).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
    await fc.assert(
      fc.asyncProperty(
        fc.array(shapeArb, { minLength: 3, maxLength: 3 }),
        fc.array(entryArb, { minLength: 1, maxLength: 30 }),
        async (shapes, program) => {
          const experiment = await started("near-shapes");
          const track = experiment.track("near");
          const expected: [string, unknown][][] = [];
          for (const [i, step] of program.entries()) {
            const keys = shapes[step.shape] as string[];
            const pairs: [string, unknown][] = keys.map((key, k) => [key, step.values[k]]);
            const at = step.at % pairs.length;
            if (step.miss === "value") (pairs[at] as [string, unknown])[1] = step.odd;
            if (step.miss === "extra") pairs.push([keyPool.find((key) => !keys.includes(key)) ?? "extra", 1]);
            if (step.miss === "missing" && pairs.length > 1) pairs.splice(at, 1);
            if (step.miss === "moved" && pairs.length > 1) pairs.push(pairs.splice(at, 1)[0] as [string, unknown]);
            track.append(toObject(pairs), i);
            const kept = pairs.filter(([, value]) => value !== undefined);
            expected.push(sorted(toObject([["timestamp", i], ...kept])));
          }
          const { entries } = await track.read();
          await experiment.complete();
          expect(entries.map(sorted)).toEqual(expected);
        },
      ),
      { seed: 20261202, numRuns: 60 },
    );
  });

  it("absent fields stay absent, explicit null stays null, undefined is omitted", async () => {
    const experiment = await started("absent");
    const track = experiment.track("sparse");
    track.append({ a: 1, b: undefined }, 1);
    track.append({ b: null }, 2);
    track.append({ a: 3 }, 3);
    await experiment.flush();
    expect((await track.read()).entries).toEqual([
      { timestamp: 1, a: 1 },
      { timestamp: 2, b: null },
      { timestamp: 3, a: 3 },
    ]);
    await experiment.complete();
  });

  it("a field whose type changes between entries is stored losslessly", async () => {
    const experiment = await started("mixed");
    const track = experiment.track("mixed");
    // A list that is not all numbers keeps non-finite numbers, -0 and strings that look like the
    // markers the reader uses for them, as the SDK's json module does.
    const nested = ["a", Number.NaN, [Infinity, -0], { k: -Infinity, "\u0000NaN": "\u0000Infinity" }, null, "\u0000\u0000"];
    const values = [1.5, "text", true, null, 7n, [1, 2], Float32Array.of(0.5), ["x"], Number.NaN, -0, nested];
    for (const [i, value] of values.entries()) track.append({ value }, i);
    await experiment.flush();
    const { entries } = await track.read();
    expect(entries.map((e) => e.value)).toEqual(values);
    expect(entries[6]?.value).toBeInstanceOf(Float32Array);
    expect(Object.is(entries[9]?.value, -0)).toBe(true);
    await experiment.complete();
  });

  it("unsupported values throw with a code, record nothing, and leave the engine usable", async () => {
    const experiment = await started("errors");
    const track = experiment.track("guarded");
    const circular: Record<string, unknown> = { a: 1 };
    circular.self = circular;
    const circularArray: unknown[] = [];
    circularArray.push(circularArray);
    const throwing = {
      get boom(): number {
        throw new Error("getter exploded");
      },
    };
    const cases: [unknown, string, ErrorConstructor][] = [
      [{ f: () => 1 }, "ERR_DASH_UNSUPPORTED_VALUE", TypeError],
      [{ s: Symbol("x") }, "ERR_DASH_UNSUPPORTED_VALUE", TypeError],
      [{ c: circular }, "ERR_DASH_CIRCULAR_VALUE", TypeError],
      [{ c: [1, "x", circularArray] }, "ERR_DASH_CIRCULAR_VALUE", TypeError],
      [{ d: new Date(0) }, "ERR_DASH_UNSUPPORTED_VALUE", TypeError],
      [{ m: new Map() }, "ERR_DASH_UNSUPPORTED_VALUE", TypeError],
      [{ v: new DataView(new ArrayBuffer(4)) }, "ERR_DASH_UNSUPPORTED_VALUE", TypeError],
      [{ big: 2n ** 63n }, "ERR_DASH_VALUE_OUT_OF_RANGE", RangeError],
      [{ lone: "\ud800" }, "ERR_DASH_UNSUPPORTED_VALUE", TypeError],
      [{ timestamp: 5 }, "ERR_DASH_RESERVED_FIELD", TypeError],
      [new Map([["a", 1]]), "ERR_DASH_INVALID_ARGUMENT", TypeError],
      [42, "ERR_DASH_INVALID_ARGUMENT", TypeError],
    ];
    for (const [data, code, type] of cases) {
      // A valid field first, so a partial write would be visible.
      const entry = data !== null && typeof data === "object" && !(data instanceof Map) ? { ok: 1, ...data } : data;
      let caught: unknown;
      try {
        track.append(entry as Record<string, unknown>, 1);
      } catch (error) {
        caught = error;
      }
      expect(caught, `${String(code)} for ${Object.keys(data as object)}`).toBeInstanceOf(type);
      expect((caught as { code?: string }).code).toBe(code);
    }
    expect(() => track.append({ ok: 1, ...throwing }, 1)).toThrow("getter exploded");
    for (const bad of [Number.NaN, Infinity, "1", null]) {
      expect(() => track.append({ ok: 1 }, { timestamp: bad as number })).toThrow(
        expect.objectContaining({ code: "ERR_DASH_INVALID_TIMESTAMP", name: "TypeError" }),
      );
      expect(() => track.append({ ok: 1, _ts: bad })).toThrow(expect.objectContaining({ code: "ERR_DASH_INVALID_TIMESTAMP" }));
    }
    expect(() => track.append({ ok: 1 }, Number.NaN)).toThrow(/guarded.*NaN/);
    track.append({ ok: 2 }, 2);
    expect((await track.read()).entries).toEqual([{ timestamp: 2, ok: 2 }]);
    expect(experiment.stats()).toMatchObject({ entriesAppended: 1 });
    await experiment.complete();
  });

  it("typed arrays over shared and detached buffers", async () => {
    const experiment = await started("buffers");
    const track = experiment.track("buffers");
    const shared = new Float32Array(new SharedArrayBuffer(16));
    shared.set([1.5, 2.5, 3.5, 4.5]);
    const detachedBuffer = new ArrayBuffer(8);
    const detached = new Float64Array(detachedBuffer);
    structuredClone(detachedBuffer, { transfer: [detachedBuffer] }); // detaches: the view is now empty
    track.append({ shared: shared.subarray(1, 3), detached }, 1);
    const [entry] = (await track.read()).entries;
    expect(entry?.shared).toEqual(Float32Array.of(2.5, 3.5));
    expect(entry?.detached).toEqual(new Float64Array(0));
    await experiment.complete();
  });

  it("large entries (a 16 MiB typed array, a 1 MiB string) cross intact", async () => {
    const experiment = await started("large");
    const track = experiment.track("large");
    const big = Float32Array.from({ length: 4 << 20 }, (_, i) => i);
    const text = "x".repeat(1 << 20);
    track.append({ small: 1 }, 1).append({ big, text }, 2).append({ small: 3 }, 3);
    const { entries } = await track.read();
    const back = entries[1]?.big as Float32Array;
    expect(back).toBeInstanceOf(Float32Array);
    // Byte comparison: a deep equality over 4M elements would take the test runner seconds.
    expect(Buffer.compare(Buffer.from(back.buffer, back.byteOffset, back.byteLength), Buffer.from(big.buffer))).toBe(0);
    expect(entries[1]?.text).toBe(text);
    expect(entries.map((e) => e.timestamp)).toEqual([1, 2, 3]);
    await experiment.complete();
  });

  it("hostile topics are refused with a TypeError; colliding topics too", async () => {
    const experiment = await started("topics");
    for (const topic of ["../../x", "/abs", "a/../b", "a\0b", "", "x".repeat(300), "a//b"]) {
      expect(() => experiment.track(topic)).toThrow(expect.objectContaining({ name: "TypeError", code: "ERR_DASH_INVALID_NAME" }));
    }
    expect(() => experiment.track(5 as unknown as string)).toThrow(expect.objectContaining({ code: "ERR_DASH_INVALID_ARGUMENT" }));
    experiment.track("a/b").append({ v: 1 }, 1);
    expect(() => experiment.track("a_b")).toThrow(expect.objectContaining({ name: "TypeError", code: "ERR_DASH_TOPIC_COLLISION" }));
    await experiment.complete();
    const again = await new Experiment(experiment.prefix, { dashRoot: experiment.dashRoot }).start();
    expect(() => again.track("a_b")).toThrow(expect.objectContaining({ code: "ERR_DASH_TOPIC_COLLISION" }));
    expect((await again.track("a/b").read()).entries).toEqual([{ timestamp: 1, v: 1 }]);
    await again.complete();
  });
});

describe("appendColumns", () => {
  it("is that many appends: seeded random columns (typed and plain, with null and absent cells), timestamps (typed or not) or none, one batch or several", async () => {
    const cell = fc.oneof(fc.double(), fc.string({ maxLength: 3 }), fc.constant(null), fc.constant(undefined), fc.boolean());
    // Some programs span several batches (256 entries), so bulk rows cross in more than one.
    const program = fc.oneof(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 250, max: 700 })).chain((rows) =>
      fc.record({
        rows: fc.constant(rows),
        timestamps: fc.option(
          fc.array(
            fc.integer({ min: 0, max: 12 }).map((n) => n / 4),
            { minLength: rows, maxLength: rows },
          ),
          { nil: undefined },
        ),
        typed: fc.array(fc.double({ noNaN: true }), { minLength: rows, maxLength: rows }),
        plain: fc.array(cell, { minLength: rows, maxLength: rows }),
        proto: fc.array(fc.integer(), { minLength: rows, maxLength: rows }),
        // Only typed columns: the rows after the first go straight into the batch.
        typedOnly: fc.boolean(),
        typedTimestamps: fc.boolean(),
      }),
    );
    await fc.assert(
      fc.asyncProperty(program, async ({ rows, timestamps, typed, plain, proto, typedOnly, typedTimestamps }) => {
        const experiment = await started("columns-prop");
        const columns: Record<string, ArrayLike<unknown>> = { x: Float64Array.from(typed), n: Int16Array.from(proto, (v) => v % 1000) };
        if (!typedOnly) columns.p = plain;
        if (timestamps !== undefined) columns.timestamp = typedTimestamps ? Float64Array.from(timestamps) : timestamps;
        Object.defineProperty(columns, "__proto__", { value: typedOnly ? Int32Array.from(proto) : proto, enumerable: true });
        experiment.track("columns").appendColumns(columns);
        for (let i = 0; i < rows; i++) {
          const data: Record<string, unknown> = { x: columns.x?.[i], n: columns.n?.[i] };
          if (!typedOnly && plain[i] !== undefined) data.p = plain[i];
          Object.defineProperty(data, "__proto__", { value: proto[i], enumerable: true, writable: true, configurable: true });
          experiment.track("loop").append(data, timestamps?.[i]);
        }
        const a = (await experiment.track("columns").read()).entries;
        const b = (await experiment.track("loop").read()).entries;
        await experiment.complete();
        const untimed = (entries: Record<string, unknown>[]) => entries.map(({ timestamp: _, ...rest }) => rest);
        if (timestamps === undefined) {
          // Automatic timestamps: one per row, strictly increasing; the rows equal the loop's.
          expect(a).toHaveLength(rows);
          expect(a.every((e, i) => i === 0 || e.timestamp > (a[i - 1]?.timestamp ?? 0))).toBe(true);
          expect(untimed(a)).toEqual(untimed(b));
        } else {
          expect(a).toEqual(b);
        }
      }),
      { numRuns: 100, seed: 20261205 },
    );
  });

  it("bad columns are TypeErrors and RangeErrors with codes; a bad row names itself and keeps the rows before", async () => {
    const experiment = await started("columns-errors");
    const track = experiment.track("t");
    const cases: [unknown, string, ErrorConstructor][] = [
      [[1, 2], "ERR_DASH_INVALID_ARGUMENT", TypeError],
      [{ x: 5 }, "ERR_DASH_INVALID_ARGUMENT", TypeError],
      [{ x: new DataView(new ArrayBuffer(8)) }, "ERR_DASH_INVALID_ARGUMENT", TypeError],
      [{ x: [1, 2], y: Float64Array.of(1) }, "ERR_DASH_INVALID_ARGUMENT", RangeError],
      [{ _ts: [1] }, "ERR_DASH_RESERVED_FIELD", TypeError],
    ];
    for (const [columns, code, type] of cases) {
      let caught: unknown;
      try {
        track.appendColumns(columns as Record<string, ArrayLike<unknown>>);
      } catch (error) {
        caught = error;
      }
      expect(caught, code).toBeInstanceOf(type);
      expect((caught as { code?: string }).code).toBe(code);
    }
    expect(() => track.appendColumns({ timestamp: [1, 2, Number.NaN, 4], x: Float64Array.of(1, 2, 3, 4) })).toThrow(
      expect.objectContaining({ code: "ERR_DASH_INVALID_TIMESTAMP", message: expect.stringContaining("row 2") }),
    );
    expect((await track.read()).entries).toEqual([
      { timestamp: 1, x: 1 },
      { timestamp: 2, x: 2 },
    ]);
    // The same through the bulk path (every column typed, timestamps typed too).
    const bulk = experiment.track("bulk");
    expect(() => bulk.appendColumns({ timestamp: Float64Array.of(1, 2, 3, Number.NaN, 5), x: Float64Array.of(1, 2, 3, 4, 5) })).toThrow(
      expect.objectContaining({ code: "ERR_DASH_INVALID_TIMESTAMP", message: expect.stringContaining("row 3") }),
    );
    expect((await bulk.read()).entries.map((e) => e.x)).toEqual([1, 2, 3]);
    await experiment.complete();
  });
});
