/** Tracks: time series of entries, one per topic, merged by timestamp. */
import { dashRangeError, dashTypeError, describe } from "./errors.js";
import type { AppendOptions, Recorder } from "./recorder.js";
import { newShapeCache, type Entry } from "./wire.js";

export type { AppendOptions } from "./recorder.js";

/** The fields of one entry. Nested plain objects are flattened to dotted names. */
export type TrackData = Record<string, unknown>;

export interface ReadOptions {
  /** Earliest timestamp to include (inclusive). */
  start?: number;
  /** Latest timestamp to include (inclusive). */
  end?: number;
  /** Fields to keep; `timestamp` is always kept. */
  columns?: string[];
  /** Only `"json"` so far. */
  format?: "json";
}

export interface ReadResult {
  /** Entries sorted by timestamp, each `{ timestamp, ...fields }`. */
  entries: Entry[];
  count: number;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function bound(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw dashRangeError("ERR_DASH_INVALID_ARGUMENT", `read: ${name} must be a number of seconds, got ${describe(value)}`);
  }
  return value;
}

/**
 * Appends entries to one topic. Returned by `experiment.track(topic)`; the same builder is
 * returned for the same topic.
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
  append(data?: TrackData | null, options?: AppendOptions | number): this {
    let fields: TrackData | undefined;
    if (data !== undefined && data !== null) {
      if (typeof data !== "object" || !isPlainObject(data)) {
        throw dashTypeError(
          "ERR_DASH_INVALID_ARGUMENT",
          `track "${this.topic}": append data must be a plain object, got ${describe(data)}`,
        );
      }
      fields = data;
    }
    this.#recorder.append(this.#id, this.topic, fields, options, this.#shape);
    return this;
  }

  /** Resolves when everything appended to the experiment before the call is durable. */
  flush(): Promise<void> {
    return this.#recorder.flush();
  }

  /** Reads entries sorted by timestamp; sees every append made before the call. */
  async read(options: ReadOptions = {}): Promise<ReadResult> {
    if (typeof options !== "object" || options === null) {
      throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `read options must be an object, got ${describe(options)}`);
    }
    const format = options.format ?? "json";
    if (format !== "json") {
      throw dashRangeError("ERR_DASH_INVALID_ARGUMENT", `read: unknown format ${describe(format)}; supported: "json"`);
    }
    let columns: Set<string> | undefined;
    if (options.columns !== undefined) {
      if (!Array.isArray(options.columns) || !options.columns.every((c) => typeof c === "string")) {
        throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", "read: columns must be an array of field names");
      }
      columns = new Set(options.columns);
    }
    const start = bound("start", options.start, -Infinity);
    const end = bound("end", options.end, Infinity);
    const entries = await this.#recorder.read(this.#id, start, end, columns);
    return { entries, count: entries.length };
  }
}
