/** The read side: every format's exact shape, slices and floor matches, track listing. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { tableFromIPC } from "apache-arrow";
import { Experiment, type TrackBuilder } from "../src/index.js";
import { parsePythonJson } from "../src/python-json.js";
import { duckRows, expectSegmentsMatch, python, runsWithPython, tempRoot, trackDir } from "./helpers.js";

async function known(): Promise<{ experiment: Experiment; track: TrackBuilder }> {
  const experiment = await new Experiment("read/known", { dashRoot: tempRoot() }).start();
  const track = experiment.track("robot/pose");
  track.append({ step: 2, x: 0.5, label: "b" }, 2);
  track.append({ step: 1, x: 0.25, label: "a", q: Float32Array.of(1, 2) }, 1);
  track.append({ step: 3, x: 0.75 }, 3.5);
  return { experiment, track };
}

const knownEntries = [
  { timestamp: 1, step: 1, x: 0.25, label: "a", q: Float32Array.of(1, 2) },
  { timestamp: 2, step: 2, x: 0.5, label: "b" },
  { timestamp: 3.5, step: 3, x: 0.75 },
];

async function duckOf(parquet: Buffer): Promise<Record<string, unknown>[]> {
  const dir = mkdtempSync(join(tmpdir(), "dash-parquet-"));
  writeFileSync(join(dir, "read.parquet"), parquet);
  return duckRows(dir);
}

/**
 * Seeded property: random appends of `value`s to fields `keys` (duplicate timestamps, flushes at
 * random points), then `check` on the track with a random projection.
 */
async function afterRandomAppends(
  keys: string[],
  value: fc.Arbitrary<unknown>,
  seed: number,
  check: (track: TrackBuilder, projection: string[] | undefined) => Promise<void>,
): Promise<void> {
  const entry = fc.record({
    ts: fc.integer({ min: 0, max: 30 }).map((n) => n / 4),
    data: fc.dictionary(fc.constantFrom(...keys), value, { maxKeys: 3 }),
    flush: fc.boolean(),
  });
  const projections = fc.constantFrom<string[] | undefined>(undefined, ["a"], ["b", "c"]);
  await fc.assert(
    fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 40 }), projections, async (appends, projection) => {
      const experiment = await new Experiment("read/random", { dashRoot: tempRoot() }).start();
      try {
        const track = experiment.track("t");
        for (const { ts, data, flush } of appends) {
          track.append(data, ts);
          if (flush) await experiment.flush();
        }
        await check(track, projection);
      } finally {
        await experiment.complete();
      }
    }),
    { numRuns: 60, seed },
  );
}

describe("read formats", () => {
  it("json: { entries, count } sorted, ranges inclusive, columns projected", async () => {
    const { experiment, track } = await known();
    expect(await track.read()).toEqual({ entries: knownEntries, count: 3 });
    expect(await track.read({ format: "json", start: 2, end: 3.5 })).toEqual({ entries: knownEntries.slice(1), count: 2 });
    expect(await track.read({ start: 1.5, end: 1.9 })).toEqual({ entries: [], count: 0 });
    expect((await track.read({ columns: ["x"] })).entries).toEqual([
      { timestamp: 1, x: 0.25 },
      { timestamp: 2, x: 0.5 },
      { timestamp: 3.5, x: 0.75 },
    ]);
    await experiment.complete();
  });

  it("jsonl: a Buffer of JSON lines as the Python SDK writes them", async () => {
    const { experiment, track } = await known();
    const jsonl = await track.read({ format: "jsonl", columns: ["step", "label", "q"] });
    expect(Buffer.isBuffer(jsonl)).toBe(true);
    expect(jsonl.toString("utf8")).toBe(
      '{"timestamp": 1.0, "step": 1.0, "label": "a", "q": [1.0, 2.0]}\n' +
        '{"timestamp": 2.0, "step": 2.0, "label": "b"}\n' +
        '{"timestamp": 3.5, "step": 3.0}\n',
    );
    await experiment.complete();
  });

  it("parquet: one self-contained file an independent reader opens", async () => {
    const { experiment, track } = await known();
    const parquet = await track.read({ format: "parquet" });
    expect(parquet.subarray(0, 4).toString()).toBe("PAR1");
    expect(await duckOf(parquet)).toEqual([
      { timestamp: 1, step: 1, x: 0.25, label: "a", q: [1, 2] },
      { timestamp: 2, step: 2, x: 0.5, label: "b" },
      { timestamp: 3.5, step: 3, x: 0.75 },
    ]);
    expect(await duckOf(await track.read({ format: "parquet", start: 3 }))).toEqual([{ timestamp: 3.5, step: 3, x: 0.75 }]);
    await experiment.complete();
  });

  it("mocap: the SDK's shape", async () => {
    const { experiment, track } = await known();
    expect(await track.read({ format: "mocap", columns: ["step", "x"] })).toEqual({
      version: "1.0",
      metadata: {
        topic: "robot/pose",
        description: null,
        tags: [],
        fps: 30,
        duration: 2.5,
        frameCount: 3,
        startTime: 1,
        endTime: 3.5,
      },
      channels: ["step", "x"],
      frames: [
        { time: 1, step: 1, x: 0.25 },
        { time: 2, step: 2, x: 0.5 },
        { time: 3.5, step: 3, x: 0.75 },
      ],
    });
    await experiment.complete();
  });

  it("json: every entry is the model's merge of the appends, narrow tracks (built from columns) and wide ones (from rows)", async () => {
    // Field names a JS object treats specially, and enough others to pass the 64 columns past
    // which the engine sends rows instead of columns.
    const special = ["x", "__proto__", "constructor", "0", "10", "label", "toString"];
    const many = Array.from({ length: 70 }, (_, i) => `f${i}`);
    const value = fc.oneof(
      fc.double(),
      fc.constantFrom(-0, Number.NaN, Number.POSITIVE_INFINITY, null, true, "", "é🌍"),
      fc.string({ maxLength: 4 }),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      fc.array(fc.double({ noNaN: true }), { maxLength: 3 }).map((a) => Float32Array.from(a)),
    );
    // Narrow programs keep most cells present (the engine sends them as columns), the others are
    // sparse or wide (sent as rows).
    const program = fc.record({
      narrow: fc.boolean(),
      wide: fc.boolean(),
      denseX: fc.boolean(),
      appends: fc.array(
        fc.record({
          ts: fc.integer({ min: 0, max: 20 }),
          data: fc.dictionary(fc.constantFrom(...special, ...many.slice(0, 8)), value, { maxKeys: 4 }),
          narrowData: fc.dictionary(fc.constantFrom("__proto__", "0", "label"), value, { minKeys: 2, maxKeys: 3 }),
          flush: fc.boolean(),
        }),
        { minLength: 1, maxLength: 30 },
      ),
    });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(program, async ({ narrow, wide, denseX, appends }) => {
        const experiment = await new Experiment(`read/model-${run++}`, { dashRoot: tempRoot() }).start();
        const track = experiment.track("t");
        const model = new Map<number, Map<string, unknown>>();
        const merge = (ts: number, fields: [string, unknown][]) => {
          const row = model.get(ts) ?? new Map<string, unknown>();
          for (const [name, v] of fields) row.set(name, v);
          model.set(ts, row);
        };
        if (wide && !narrow) {
          // One entry holding every one of the many fields: the track has more than 64 columns.
          const fields = many.map((name, i): [string, unknown] => [name, i]);
          track.append(Object.fromEntries(fields), 100);
          merge(100, fields);
        }
        for (const { ts, data, narrowData, flush } of appends) {
          // Object.entries: own properties, `__proto__` among them (fc.dictionary defines it as data).
          const fields = Object.entries(narrow ? narrowData : data);
          if (denseX) fields.push(["x", ts * 2]);
          const entry: Record<string, unknown> = {};
          for (const [name, v] of fields)
            Object.defineProperty(entry, name, { value: v, enumerable: true, writable: true, configurable: true });
          track.append(entry, ts);
          merge(ts, fields);
          if (flush) await track.flush();
        }
        const { entries } = await track.read();
        await experiment.complete();
        const expected = [...model.entries()]
          .sort((a, b) => a[0] - b[0])
          .map(([timestamp, fields]) => [["timestamp", timestamp], ...[...fields.entries()].filter(([, v]) => v !== undefined)].sort());
        const got = entries.map((entry) =>
          Object.keys(entry)
            .map((name) => [name, (entry as Record<string, unknown>)[name]])
            .sort(),
        );
        expect(got).toEqual(expected);
        for (const entry of entries) expect(Object.getPrototypeOf(entry)).toBe(Object.prototype);
      }),
      { numRuns: 60, seed: 20261202 },
    );
  });

  it("columns: one array per column, doubles for all-number columns, absent cells undefined", async () => {
    const { experiment, track } = await known();
    const { count, columns } = await track.read({ format: "columns" });
    expect(count).toBe(3);
    expect(columns.timestamp).toEqual(Float64Array.of(1, 2, 3.5));
    expect(columns.step).toEqual(Float64Array.of(1, 2, 3));
    expect(columns.x).toBeInstanceOf(Float64Array);
    expect(columns.label).toEqual(["a", "b", undefined]);
    expect(columns.q).toEqual([Float32Array.of(1, 2), undefined, undefined]);
    const ranged = await track.read({ format: "columns", start: 2, columns: ["x"] });
    expect(ranged).toEqual({ count: 2, columns: { timestamp: Float64Array.of(2, 3.5), x: Float64Array.of(0.5, 0.75) } });
    await experiment.complete();
  });

  it("columns: the same cells as json for random appends, flushed or not, across segments", async () => {
    const value = fc.oneof(
      fc.double(),
      fc.integer(),
      fc.string(),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.double(), { maxLength: 3 }),
      fc.array(fc.string(), { maxLength: 2 }),
    );
    await afterRandomAppends(["a", "b", "c", "__proto__"], value, 20261202, async (track, projection) => {
      const { entries } = await track.read({ columns: projection });
      const { count, columns } = await track.read({ format: "columns", columns: projection });
      expect(count).toBe(entries.length);
      expect([...columns.timestamp]).toEqual(entries.map((e) => e.timestamp));
      const names = new Set(entries.flatMap((e) => Object.keys(e)));
      expect(new Set(Object.keys(columns))).toEqual(names.size === 0 ? new Set(["timestamp"]) : names);
      for (const name of names) {
        const cells = entries.map((e) => (Object.hasOwn(e, name) ? e[name] : undefined));
        const column = columns[name] as unknown[] | Float64Array;
        expect(Array.from(column), name).toEqual(cells);
        expect(column instanceof Float64Array, name).toBe(cells.every((c) => typeof c === "number"));
      }
    });
  });

  it("arrow: an IPC stream apache-arrow reads, every kind typed", async () => {
    const experiment = await new Experiment("read/arrow", { dashRoot: tempRoot() }).start();
    const track = experiment.track("kinds");
    track.append(
      {
        n: 1.5,
        b: true,
        s: "é",
        big: 7n,
        list: [1, 2],
        f32: Float32Array.of(1.5),
        i16: Int16Array.of(-3, 4),
        json: ["a", { k: Number.NaN }],
        mixed: 1,
      },
      1,
    );
    track.append({ n: 2.5, s: "x", mixed: "two", nul: null }, 2);
    track.append({ b: false, big: -1n, list: [], f32: new Float32Array(0) }, 3);
    const table = tableFromIPC(await track.read({ format: "arrow" }));
    await experiment.complete();
    expect(table.schema.fields.map((f) => `${f.name}: ${f.type}`)).toEqual([
      "timestamp: Float64",
      "n: Float64",
      "b: Bool",
      "s: Utf8",
      "big: Int64",
      "list: List<Float64>",
      "f32: List<Float32>",
      "i16: List<Int16>",
      "json: Utf8",
      "mixed: Utf8",
      "nul: Null",
    ]);
    const column = (name: string) =>
      Array.from(table.getChild(name) ?? [], (v) => (ArrayBuffer.isView(v) || v?.toArray ? Array.from(v.toArray?.() ?? v) : v));
    expect(column("timestamp")).toEqual([1, 2, 3]);
    expect(column("n")).toEqual([1.5, 2.5, null]);
    expect(column("b")).toEqual([true, null, false]);
    expect(column("s")).toEqual(["é", "x", null]);
    expect(column("big")).toEqual([7n, null, -1n]);
    expect(column("list")).toEqual([[1, 2], null, []]);
    expect(column("f32")).toEqual([[1.5], null, []]);
    expect(column("i16")).toEqual([[-3, 4], null, null]);
    expect(column("json")).toEqual(['["a",{"k":NaN}]', null, null]);
    expect(column("mixed")).toEqual(["1.0", '"two"', null]);
    expect(column("nul")).toEqual([null, null, null]);
  });

  it.runIf(runsWithPython("pyarrow"))("arrow: pyarrow reads the stream and its full validation passes", async () => {
    const experiment = await new Experiment("read/arrow-py", { dashRoot: tempRoot() }).start();
    const track = experiment.track("kinds");
    track.append({ n: 1.5, s: "é", big: 7n, list: [1, 2], u8: Uint8Array.of(255), mixed: 1 }, 1);
    track.append({ b: false, mixed: "two", nul: null }, 2);
    const file = join(tempRoot(), "kinds.arrows");
    writeFileSync(file, await track.read({ format: "arrow" }));
    await experiment.complete();
    const script = [
      "import json, sys, pyarrow.ipc as ipc",
      "table = ipc.open_stream(open(sys.argv[1], 'rb')).read_all()",
      "table.validate(full=True)",
      "print(json.dumps({'types': [str(f.type) for f in table.schema], 'rows': table.to_pylist()}))",
    ].join("\n");
    const out = JSON.parse(execFileSync(python, ["-c", script, file], { encoding: "utf8" })) as unknown;
    expect(out).toEqual({
      types: ["double", "double", "string", "int64", "list<item: double>", "list<item: uint8>", "string", "bool", "null"],
      rows: [
        { timestamp: 1, n: 1.5, s: "é", big: 7, list: [1, 2], u8: [255], mixed: "1.0", b: null, nul: null },
        { timestamp: 2, n: null, s: null, big: null, list: null, u8: null, mixed: '"two"', b: false, nul: null },
      ],
    });
  });

  it("arrow: a long read comes in record batches of up to 65,536 rows, each within a segment", async () => {
    const experiment = await new Experiment("read/arrow-batches", { dashRoot: tempRoot() }).start();
    const track = experiment.track("t");
    const rows = 65_536 * 2 + 5;
    for (let i = 0; i < rows; i++) track.append({ i, s: `r${i}` }, i);
    const table = tableFromIPC(await track.read({ format: "arrow" }));
    expect(table.batches.map((b) => b.numRows)).toEqual([65_536, 65_536, 5]);
    expect([table.getChild("i")?.get(rows - 1), table.getChild("s")?.get(65_536)]).toEqual([rows - 1, "r65536"]);
    // Sealed as two segments (131,077 rows, then 1,000) of the same columns: batches per segment.
    await experiment.flush();
    for (let i = rows; i < rows + 1000; i++) track.append({ i, s: `r${i}` }, i);
    await experiment.flush();
    const sealed = tableFromIPC(await track.read({ format: "arrow" }));
    await experiment.complete();
    expect(sealed.batches.map((b) => b.numRows)).toEqual([65_536, 65_536, 5, 1000]);
    expect(Array.from(sealed.getChild("i")?.toArray() ?? [])).toEqual(Array.from({ length: rows + 1000 }, (_, i) => i));
    expect(sealed.getChild("s")?.get(rows + 999)).toBe(`r${rows + 999}`);
  });

  it("arrow: the same cells as json for random appends, flushed or not, ranges and projections", async () => {
    const value = fc.oneof(fc.double(), fc.string(), fc.boolean(), fc.constant(null), fc.array(fc.double(), { maxLength: 3 }));
    await afterRandomAppends(["a", "b", "c"], value, 20261203, async (track, projection) => {
      const { entries } = await track.read({ start: 1, columns: projection });
      const table = tableFromIPC(await track.read({ format: "arrow", start: 1, columns: projection }));
      expect(table.numRows).toBe(entries.length);
      for (const field of table.schema.fields) {
        const cells = Array.from(table.getChild(field.name) ?? [], (v) => (v?.toArray ? Array.from(v.toArray()) : v));
        // A column of one kind holds its values; null and absent are both null.
        const expected = entries.map((e) => (Object.hasOwn(e, field.name) ? e[field.name] : null));
        const kinds = new Set(expected.filter((v) => v !== null).map((v) => (Array.isArray(v) ? "list" : typeof v)));
        if (kinds.size === 1) expect(cells, field.name).toEqual(expected);
        else
          expect(
            cells.map((c) => (c === null ? null : parsePythonJson(c as string))),
            field.name,
          ).toEqual(expected);
      }
    });
  });

  it("chartWidth: the rows a chart that wide needs, each a row of the track, unchanged", async () => {
    const experiment = await new Experiment("read/chart", { dashRoot: tempRoot() }).start();
    const track = experiment.track("t");
    for (let i = 0; i < 20_000; i++) track.append({ i, v: Math.sin(i / 50), label: `l${i}` }, i / 100);
    const all = (await track.read()).entries;
    const byTime = new Map(all.map((e) => [e.timestamp, e]));
    const { entries } = await track.read({ chartWidth: 100 });
    const { count, columns } = await track.read({ format: "columns", chartWidth: 100, start: 50 });
    await experiment.complete();
    expect(entries.length).toBeLessThanOrEqual(600);
    for (const entry of entries) expect(entry).toEqual(byTime.get(entry.timestamp));
    expect(Math.max(...entries.map((e) => e.v as number))).toBe(Math.max(...all.map((e) => e.v as number)));
    expect([entries[0], entries.at(-1)]).toEqual([all[0], all.at(-1)]);
    expect(count).toBeLessThanOrEqual(600);
    expect(columns.timestamp[0]).toBe(50);
  });

  it("chartWidth on a long track: drawn from the segments' summaries, each number field's extremes per span, while writing and after", async () => {
    const root = tempRoot();
    const experiment = await new Experiment("read/chart-long", { dashRoot: root }).start();
    const track = experiment.track("t");
    const rows = 300_000;
    const width = 10; // 30,000 rows per pixel column: enough blocks per span to use the summaries
    const spikes = new Set(Array.from({ length: width }, (_, k) => 15_000 + 30_000 * k));
    for (let i = 0; i < rows; i++) {
      const v = spikes.has(i) ? 1000 + i : Math.sin(i / 500);
      track.append(i % 3 === 0 ? { i, v, label: `l${i}` } : { i, v }, i / 1000);
    }
    await experiment.flush();
    track.append({ i: rows, v: -5 }, rows / 1000); // an unsealed row, after the segments
    const all = (await track.read()).entries;
    const check = (entries: typeof all, from: number, to: number) => {
      const inRange = all.filter((e) => e.timestamp >= from && e.timestamp <= to);
      const byTime = new Map(inRange.map((e) => [e.timestamp, e]));
      expect(entries.length).toBeLessThanOrEqual(4 * width * 2);
      for (const entry of entries) {
        const row = byTime.get(entry.timestamp);
        expect(row, `row at ${entry.timestamp}`).toBeDefined();
        for (const [field, value] of Object.entries(entry)) expect(value, field).toBe(row?.[field]);
        // Drawn from summaries: a point carries its number field alone, never the label.
        expect(entry.label).toBeUndefined();
      }
      for (const field of ["i", "v"]) {
        const values = inRange.map((e) => e[field] as number);
        const drawn = entries.filter((e) => e[field] !== undefined);
        const [min, max] = values.reduce(([lo, hi], v) => [Math.min(lo, v), Math.max(hi, v)], [Infinity, -Infinity]);
        expect(drawn.map((e) => e[field])).toEqual(expect.arrayContaining([min, max]));
        expect([drawn[0]?.timestamp, drawn.at(-1)?.timestamp]).toEqual([inRange[0]?.timestamp, inRange.at(-1)?.timestamp]);
      }
    };
    const whole = (await track.read({ chartWidth: width })).entries;
    check(whole, -Infinity, Infinity);
    for (const i of spikes)
      expect(
        whole.some((e) => e.v === 1000 + i),
        `spike at row ${i}`,
      ).toBe(true);
    expect(whole.some((e) => e.v === -5)).toBe(true);
    // A zoom whose ends fall inside blocks: those blocks are decoded, the rest summarized.
    const [from, to] = [12.3456, 77.7777];
    check((await track.read({ start: from, end: to, chartWidth: 2 })).entries, from, to);
    // A narrow zoom (1,000 rows per pixel column) inside the same segment: rows, exactly (M4).
    const narrow = (await track.read({ start: 100, end: 110, chartWidth: width })).entries;
    expect(narrow.some((e) => e.label !== undefined)).toBe(true);
    for (const entry of narrow) expect(entry).toEqual(all.find((e) => e.timestamp === entry.timestamp));
    await experiment.complete();
    const reader = await Experiment.open("read/chart-long", { dashRoot: root });
    const reread = (await reader.track("t").read({ format: "columns", chartWidth: width })).columns;
    expect(Array.from(reread.timestamp)).toEqual(whole.map((e) => e.timestamp));
    await reader.close();
  });

  it("an empty and a missing track give the empty shape of every format", async () => {
    const experiment = await new Experiment("read/empty", { dashRoot: tempRoot() }).start();
    for (const track of [experiment.track("missing"), experiment.track("emptied")]) {
      expect(await track.read()).toEqual({ entries: [], count: 0 });
      expect(await track.read({ format: "columns" })).toEqual({ count: 0, columns: { timestamp: new Float64Array(0) } });
      const empty = tableFromIPC(await track.read({ format: "arrow" }));
      expect([empty.numRows, empty.schema.fields.map((f) => f.name)]).toEqual([0, ["timestamp"]]);
      expect((await track.read({ format: "jsonl" })).length).toBe(0);
      expect(await duckOf(await track.read({ format: "parquet" }))).toEqual([]);
      expect(await track.read({ format: "mocap" })).toEqual({
        version: "1.0",
        metadata: { topic: track.topic, frameCount: 0, duration: 0, startTime: 0, endTime: 0 },
        channels: [],
        frames: [],
      });
    }
    await experiment.complete();
  });

  it("bad read arguments are TypeError/RangeError with codes", async () => {
    const { experiment, track } = await known();
    await expect(track.read({ format: "xml" as "json" })).rejects.toMatchObject({ name: "RangeError", code: "ERR_DASH_INVALID_ARGUMENT" });
    await expect(track.read({ start: Number.NaN })).rejects.toMatchObject({ name: "TypeError", code: "ERR_DASH_INVALID_ARGUMENT" });
    await expect(track.read({ columns: "x" as unknown as string[] })).rejects.toMatchObject({ code: "ERR_DASH_INVALID_ARGUMENT" });
    for (const chartWidth of [0, 1.5, Number.NaN, 1e6]) {
      await expect(track.read({ chartWidth })).rejects.toMatchObject({ name: "RangeError", code: "ERR_DASH_INVALID_ARGUMENT" });
    }
    await expect(track.slice("0" as unknown as number)).rejects.toMatchObject({ code: "ERR_DASH_INVALID_ARGUMENT" });
    await experiment.complete();
  });
});

describe("slices and floor matches", () => {
  it("findByTime: exact hit, between entries, after the last, before the first, lists", async () => {
    const experiment = await new Experiment("read/floor", { dashRoot: tempRoot() }).start();
    const track = experiment.track("t");
    for (const ts of [7, 1, 5, 3]) track.append({ v: ts }, ts); // out of order
    track.append({ w: 1 }, 5); // merged
    const slice = await track.slice();
    expect(slice.length).toBe(4);
    expect([...slice].map((e) => e.timestamp)).toEqual([1, 3, 5, 7]);
    expect(slice.findByTime(3)).toEqual({ timestamp: 3, v: 3 });
    expect(slice.findByTime(5.5)).toEqual({ timestamp: 5, v: 5, w: 1 });
    expect(slice.findByTime(100)).toEqual({ timestamp: 7, v: 7 });
    expect(slice.findByTime(Infinity)).toEqual({ timestamp: 7, v: 7 });
    expect(slice.findByTime([1, 2.9, 7])).toEqual([
      { timestamp: 1, v: 1 },
      { timestamp: 1, v: 1 },
      { timestamp: 7, v: 7 },
    ]);
    expect(() => slice.findByTime(0.5)).toThrow(expect.objectContaining({ name: "RangeError", code: "ERR_DASH_NO_ENTRY" }));
    expect(() => slice.findByTime([3, 0])).toThrow(expect.objectContaining({ code: "ERR_DASH_NO_ENTRY" }));
    expect(() => slice.findByTime("3" as unknown as number)).toThrow(expect.objectContaining({ name: "TypeError" }));
    const part = await track.slice(2, 5);
    expect(part.toArray()).toEqual([
      { timestamp: 3, v: 3 },
      { timestamp: 5, v: 5, w: 1 },
    ]);
    expect(part.findByTime(100)).toEqual({ timestamp: 5, v: 5, w: 1 });
    const empty = await track.slice(10, 20);
    expect(empty.length).toBe(0);
    expect(() => empty.findByTime(15)).toThrow(expect.objectContaining({ name: "RangeError", code: "ERR_DASH_NO_ENTRY" }));
    await experiment.complete();
  });
});

describe("tracks.list", () => {
  it("lists every track with its summary; robot/* means under robot/, not robotics/", async () => {
    const root = tempRoot();
    await new Experiment("list/x", { dashRoot: root }).run((e) => {
      e.track("robot/position").append({ a: 1 }, 1).append({ b: 2 }, 2);
    });
    const experiment = await new Experiment("list/x", { dashRoot: root }).start();
    experiment.track("robot/joints/arm").append({ j: 0.5 }, 5);
    experiment.track("robotics/other").append({ z: 1 }, 9);
    experiment.track("camera").append({ f: "x" }, 3);
    expect(await experiment.tracks.list("robot/*")).toEqual([
      { topic: "robot/joints/arm", totalEntries: 1, columns: ["j"], firstTimestamp: 5, lastTimestamp: 5 },
      { topic: "robot/position", totalEntries: 2, columns: ["a", "b"], firstTimestamp: 1, lastTimestamp: 2 },
    ]);
    expect((await experiment.tracks.list()).map((t) => t.topic)).toEqual([
      "camera",
      "robot/joints/arm",
      "robot/position",
      "robotics/other",
    ]);
    expect((await experiment.tracks.list("camera")).map((t) => t.topic)).toEqual(["camera"]);
    await experiment.complete();
  });
});

describe("property: flush timing never changes what is read", () => {
  it("random appends with duplicate timestamps and random flush points equal the no-flush run", async () => {
    const entry = fc.record({
      ts: fc.integer({ min: 0, max: 40 }).map((n) => n / 4),
      field: fc.constantFrom("a", "b", "c", "d"),
      value: fc.oneof(fc.double({ noNaN: true }), fc.string(), fc.boolean(), fc.constant(null)),
      flush: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 60 }), async (appends) => {
        const root = tempRoot();
        const flushed = await new Experiment("prop/flushed", { dashRoot: root }).start();
        const plain = await new Experiment("prop/plain", { dashRoot: root }).start();
        for (const { ts, field, value, flush } of appends) {
          flushed.track("t").append({ [field]: value }, ts);
          plain.track("t").append({ [field]: value }, ts);
          if (flush) await flushed.flush();
        }
        const a = (await flushed.track("t").read()).entries;
        const b = (await plain.track("t").read()).entries;
        await flushed.complete();
        await plain.complete();
        expect(a).toEqual(b);
        // Segments never share a timestamp, so an independent reader sees the same rows.
        await expectSegmentsMatch(trackDir(flushed, "t"), a);
        const reopened = await Experiment.open("prop/flushed", { dashRoot: root });
        expect((await reopened.track("t").read()).entries).toEqual(b);
        await reopened.close();
      }),
      { numRuns: 40 },
    );
  });
});
