/** Tracks: time series of entries, one per topic, merged by timestamp. */
import { dashRangeError, dashTypeError, describe } from "./errors.js";
import type { AppendOptions, Recorder } from "./recorder.js";
import { TrackSlice } from "./slice.js";
import { decodeColumns, decodeEntries, type Entry, type TrackColumns } from "./rows.js";
import { isPlainObject, newShapeCache } from "./wire.js";

export type { AppendOptions } from "./recorder.js";

/** The fields of one entry. Nested plain objects are flattened to dotted names. */
export type TrackData = Record<string, unknown>;

export type ReadFormat = "json" | "jsonl" | "parquet" | "mocap" | "columns" | "arrow";

export interface ReadOptions<F extends ReadFormat = ReadFormat> {
  /** Earliest timestamp to include (inclusive). */
  start?: number;
  /** Latest timestamp to include (inclusive). */
  end?: number;
  /** Fields to keep; `timestamp` is always kept. */
  columns?: string[];
  /** `"json"` (default), `"columns"`, `"arrow"`, `"jsonl"`, `"parquet"` or `"mocap"`. */
  format?: F;
  /**
   * For a line chart this many pixels wide: only what it needs to look the same as with every row
   * (per pixel-wide time span, each number field's first, last, smallest and largest value, M4).
   * A read already that small is whole; otherwise the rows holding those values, unchanged, or —
   * where a span covers many thousands of rows — those values read from the segments' summaries
   * without decoding the rows, each as an entry of its timestamp and that field alone.
   */
  chartWidth?: number;
}

export interface ReadResult {
  /** Entries sorted by timestamp, each `{ timestamp, ...fields }`. */
  entries: Entry[];
  count: number;
}

/** The ml-dash SDK's motion-capture shape of a track. */
export interface MocapResult {
  version: "1.0";
  metadata: {
    topic: string;
    description?: string | null;
    tags?: string[];
    fps?: number;
    duration: number;
    frameCount: number;
    startTime: number;
    endTime: number;
  };
  /** Field names, sorted. */
  channels: string[];
  frames: ({ time: number } & Record<string, unknown>)[];
}

/** What `read` resolves to for each format. */
export type ReadOutput<F extends ReadFormat> = F extends "json"
  ? ReadResult
  : F extends "mocap"
    ? MocapResult
    : F extends "columns"
      ? TrackColumns
      : Buffer;

/** Frame rate the SDK reports for mocap output when a track does not say otherwise. */
const MOCAP_DEFAULT_FPS = 30;

function bound(what: string, value: unknown, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `${what} must be a number of seconds, got ${describe(value)}`);
  }
  return value;
}

function toMocap(topic: string, entries: Entry[]): MocapResult {
  const first = entries[0];
  const last = entries[entries.length - 1];
  if (first === undefined || last === undefined) {
    return {
      version: "1.0",
      metadata: { topic, frameCount: 0, duration: 0, startTime: 0, endTime: 0 },
      channels: [],
      frames: [],
    };
  }
  const channels = new Set<string>();
  const frames = entries.map(({ timestamp, ...fields }) => {
    for (const key of Object.keys(fields)) channels.add(key);
    return { time: timestamp, ...fields };
  });
  return {
    version: "1.0",
    metadata: {
      topic,
      description: null,
      tags: [],
      fps: MOCAP_DEFAULT_FPS,
      duration: last.timestamp - first.timestamp,
      frameCount: entries.length,
      startTime: first.timestamp,
      endTime: last.timestamp,
    },
    channels: [...channels].sort(),
    frames,
  };
}

/**
 * Appends entries to one topic and reads them back. Returned by `experiment.track(topic)`; the
 * same builder is returned for the same topic.
 */
export class TrackBuilder {
  readonly topic: string;
  readonly #recorder: Recorder;
  readonly #id: number;
  readonly #shape = newShapeCache();

  /** @internal Use `experiment.track(topic)`. */
  constructor(recorder: Recorder, topic: string) {
    this.topic = topic;
    this.#recorder = recorder;
    this.#id = recorder.defineTopic(topic);
  }

  /**
   * Appends one entry. Synchronous; returns the builder for chaining.
   *
   * Timestamp: `options.timestamp` (or `options` as a number), else `data._ts` (`-1` reuses the
   * experiment's last timestamp), else the wall clock in seconds, strictly increasing. Entries of
   * this topic with the same timestamp merge into one row, the last write winning per field.
   *
   * Throws a `TypeError`/`RangeError` with a `code` for values that cannot be stored losslessly;
   * then nothing of the entry is recorded.
   */
  append(data: TrackData, options?: AppendOptions | number): this {
    // A plain object only: an object with another prototype (`Object.create({ inh: 9 })`) would
    // have its inherited fields recorded, and `append()` / `append(null)` would record nothing.
    if (!isPlainObject(data)) {
      throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `track "${this.topic}": append data must be a plain object, got ${describe(data)}`);
    }
    this.#recorder.append(this.#id, this.topic, data, options, this.#shape);
    return this;
  }

  /**
   * Appends many entries at once from columns: `timestamp` (optional) and each field a typed array
   * or an array, all of one length; row `i` takes element `i` of every column. The same as that
   * many `append` calls: no `timestamp` column means automatic timestamps, equal timestamps
   * merge, an array element `undefined` leaves the field out of its row and `null` stores null.
   * Rows are appended in order; a row that cannot be stored throws (naming the row) and the rows
   * before it stay appended.
   */
  appendColumns(columns: Record<string, ArrayLike<unknown>>): this {
    if (!isPlainObject(columns)) {
      throw dashTypeError(
        "ERR_DASH_INVALID_ARGUMENT",
        `track "${this.topic}": appendColumns takes an object of columns, got ${describe(columns)}`,
      );
    }
    const names = Object.keys(columns).filter((name) => name !== "timestamp");
    const fields = names.map((name) => columns[name]);
    const timestamps = columns.timestamp;
    let rows = -1;
    for (const [name, column] of Object.entries(columns)) {
      if (!Array.isArray(column) && !(ArrayBuffer.isView(column) && !(column instanceof DataView))) {
        throw dashTypeError(
          "ERR_DASH_INVALID_ARGUMENT",
          `track "${this.topic}": appendColumns column "${name}" must be a typed array or an array, got ${describe(column)}`,
        );
      }
      if (name === "_ts") {
        throw dashTypeError(
          "ERR_DASH_RESERVED_FIELD",
          `track "${this.topic}": appendColumns takes timestamps as a "timestamp" column, not "_ts"`,
        );
      }
      if (rows >= 0 && column.length !== rows) {
        throw dashRangeError(
          "ERR_DASH_INVALID_ARGUMENT",
          `track "${this.topic}": appendColumns columns differ in length ("${name}" has ${column.length}, others ${rows})`,
        );
      }
      rows = column.length;
    }
    // Every column typed: one object reused for every row (its keys never change); otherwise a
    // new one per row, without the fields a row leaves out. Columns of numbers go straight into
    // the batch once the first row has taught the topic their shape.
    const dense = fields.every((column) => ArrayBuffer.isView(column));
    const row: Record<string, unknown> = {};
    let bulk = dense && names.length > 0 && fields.every((c) => !(c instanceof BigInt64Array || c instanceof BigUint64Array));
    let i = 0;
    const before = this.#recorder.appended;
    try {
      while (i < rows) {
        if (bulk && i > 0) {
          // After the first row has taught the topic the columns' shape: the rest in bulk, up to a
          // row whose timestamp is automatic or wrong, which goes on its own below.
          const next = this.#recorder.appendNumberRows(
            this.#id,
            this.topic,
            names,
            fields as ArrayLike<number>[],
            timestamps,
            i,
            rows,
            this.#shape,
          );
          if (next < 0) bulk = false;
          else i = next;
          if (i === rows) break;
        }
        const data = dense ? row : {};
        for (let f = 0; f < names.length; f++) {
          const value = (fields[f] as ArrayLike<unknown>)[i];
          const name = names[f] as string;
          // A field named "__proto__" is data: assigning it would set the prototype.
          if (name === "__proto__") Object.defineProperty(data, name, { value, enumerable: true, writable: true, configurable: true });
          else if (value !== undefined) data[name] = value;
        }
        this.append(data, timestamps === undefined ? undefined : (timestamps[i] as number));
        i++;
      }
    } catch (error) {
      if (error instanceof Error) error.message = `appendColumns row ${this.#recorder.appended - before}: ${error.message}`;
      throw error;
    }
    return this;
  }

  /** Resolves when everything appended to the experiment before the call is durable. */
  flush(): Promise<void> {
    return this.#recorder.flush();
  }

  /**
   * Reads entries sorted by timestamp, equal timestamps merged; sees every append made before the
   * call, flushed or not. `start`/`end` are inclusive; `columns` projects (timestamp always kept).
   * Formats: `"json"` → `{ entries, count }`; `"columns"` → `{ count, columns }`, one array per
   * column (a `Float64Array` for timestamps and for fields whose every cell is a number; other
   * fields as arrays of their values, absent cells `undefined`), no object per row; `"arrow"` → a
   * Buffer holding an Arrow IPC stream (apache-arrow's `tableFromIPC`, pyarrow, polars); `"jsonl"` →
   * a Buffer of JSON lines (as the Python SDK
   * writes them); `"parquet"` → a Buffer holding one Parquet file; `"mocap"` → the SDK's mocap shape.
   */
  async read<F extends ReadFormat = "json">(options: ReadOptions<F> = {}): Promise<ReadOutput<F>> {
    if (typeof options !== "object" || options === null) {
      throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `read options must be an object, got ${describe(options)}`);
    }
    const format: ReadFormat = options.format ?? "json";
    if (!["json", "columns", "arrow", "jsonl", "parquet", "mocap"].includes(format)) {
      throw dashRangeError(
        "ERR_DASH_INVALID_ARGUMENT",
        `read: unknown format ${describe(format)}; use "json", "columns", "arrow", "jsonl", "parquet" or "mocap"`,
      );
    }
    const { columns } = options;
    if (columns !== undefined && (!Array.isArray(columns) || !columns.every((c) => typeof c === "string"))) {
      throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", "read: columns must be an array of field names");
    }
    const start = bound("read: start", options.start, -Infinity);
    const end = bound("read: end", options.end, Infinity);
    const { chartWidth } = options;
    if (chartWidth !== undefined && (!Number.isInteger(chartWidth) || chartWidth < 1 || chartWidth > 100_000)) {
      throw dashRangeError(
        "ERR_DASH_INVALID_ARGUMENT",
        `read: chartWidth must be an integer from 1 to 100000, got ${describe(chartWidth)}`,
      );
    }
    const request = { start, end, columns, chartWidth };
    if (format === "jsonl" || format === "parquet" || format === "arrow") {
      return (await this.#recorder.readBytes(this.#id, { ...request, format })) as ReadOutput<F>;
    }
    if (format === "columns") {
      return decodeColumns(await this.#recorder.readBytes(this.#id, { ...request, format })) as ReadOutput<F>;
    }
    const entries = decodeEntries(await this.#recorder.readBytes(this.#id, { ...request, format: "entries" }));
    if (format === "mocap") return toMocap(this.topic, entries) as ReadOutput<F>;
    return { entries, count: entries.length } as ReadOutput<F>;
  }

  /**
   * The entries with `start ≤ timestamp ≤ end` (both optional) as a `TrackSlice`: `length`,
   * `for … of`, and `findByTime(t)` floor-match lookups.
   */
  async slice(start?: number, end?: number): Promise<TrackSlice> {
    const from = bound("slice: start", start, -Infinity);
    const to = bound("slice: end", end, Infinity);
    return new TrackSlice(this.topic, await this.#recorder.readEntries(this.#id, from, to));
  }
}
