/**
 * The ml-dash SDK's other records, same shapes and files: logs (`logs/logs.jsonl`), metrics
 * (`metrics/<name>/data.jsonl`) and parameters (`parameters.json`). Values are written as JSON the
 * Python SDK reads (non-ASCII escaped, `NaN`/`Infinity` literals, typed arrays as lists).
 */
import { isoNow } from "./clock.js";
import { dashRangeError, dashTypeError, describe } from "./errors.js";
import type { Recorder } from "./recorder.js";
import { parsePythonJson, pythonJson } from "./python-json.js";
import { isPlainObject } from "./wire.js";

export type LogLevel = "debug" | "info" | "warn" | "error" | "fatal";
const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error", "fatal"];

export interface LogOptions {
  /** Default `"info"`. */
  level?: LogLevel;
  /** Extra JSON-representable fields stored with the line. */
  metadata?: Record<string, unknown>;
}

/** Nested plain objects flattened to dotted keys, as the SDK stores parameters. */
function flatten(value: Record<string, unknown>, prefix: string, out: Record<string, unknown>, seen: object[]): void {
  if (seen.includes(value)) throw dashTypeError("ERR_DASH_CIRCULAR_VALUE", `parameter "${prefix}" refers back to itself`);
  seen.push(value);
  for (const [key, item] of Object.entries(value)) {
    const name = prefix === "" ? key : `${prefix}.${key}`;
    if (isPlainObject(item)) flatten(item, name, out, seen);
    else if (item !== undefined) out[name] = item;
  }
  seen.pop();
}

/** `experiment.logs`: one method per level. */
export type Logs = Record<LogLevel, (message: string, metadata?: Record<string, unknown>) => void>;

/**
 * Records a log line; `at` is its ISO time (now, unless a client sent the line's own time).
 * `once`: a line a client may send twice (the server's); one equal to a line the log holds is not
 * stored again.
 */
export function writeLog(recorder: Recorder, message: unknown, options: LogOptions = {}, at = isoNow(), once = false): void {
  if (typeof message !== "string") {
    throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `log message must be a string, got ${describe(message)}`);
  }
  if (typeof options !== "object" || options === null) {
    throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `log options must be an object, got ${describe(options)}`);
  }
  // As the SDK: any case (`"WARN"`, `"Info"`), stored in lower case.
  const level = (typeof options.level === "string" ? options.level.toLowerCase() : (options.level ?? "info")) as LogLevel;
  if (!LOG_LEVELS.includes(level)) {
    throw dashRangeError("ERR_DASH_INVALID_ARGUMENT", `log level must be one of ${LOG_LEVELS.join(", ")}, got ${describe(level)}`);
  }
  let metadata: string | undefined;
  if (options.metadata !== undefined) {
    if (!isPlainObject(options.metadata)) {
      throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `log metadata must be a plain object, got ${describe(options.metadata)}`);
    }
    // The engine stores metadata as parsed JSON, so it must be strict JSON (no NaN).
    metadata = pythonJson(options.metadata, "log metadata");
  }
  if (!message.isWellFormed()) {
    throw dashTypeError("ERR_DASH_UNSUPPORTED_VALUE", "log message contains a lone surrogate, which UTF-8 cannot store");
  }
  recorder.writer("log").log(at, level, message, metadata, once);
}

export function logsFor(recorder: () => Recorder): Logs {
  const at = (level: LogLevel) => (message: string, metadata?: Record<string, unknown>) =>
    writeLog(recorder(), message, metadata === undefined ? { level } : { level, metadata });
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error"), fatal: at("fatal") };
}

/**
 * Records a metric point (`_ts` as `MetricBuilder.log` takes it). `once`: a point a client may
 * send twice (the server's); one whose data equals a point the metric holds is not stored again.
 */
export function writeMetric(recorder: Recorder, name: string, data: unknown, once = false): void {
  if (!isPlainObject(data)) {
    throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `metric "${name}": data must be a plain object, got ${describe(data)}`);
  }
  const _ts = recorder.timestampFor(name, data);
  const { _ts: _ignored, ...fields } = data;
  recorder.writer(`metric "${name}"`).logMetric(name, pythonJson({ ...fields, _ts }, `metric "${name}"`), once);
}

/** What `metrics(name).read()` resolves to: the SDK's shape. */
export interface MetricReadResult {
  data: { index: number; data: Record<string, unknown>; createdAt: string }[];
  startIndex: number;
  endIndex: number;
  total: number;
  hasMore: boolean;
}

/** One metric: `log(data)` appends a point `{ index, data: { ...data, _ts }, createdAt }`. */
export class MetricBuilder {
  readonly name: string;
  readonly #recorder: Recorder;

  /** @internal Use `experiment.metrics(name)`. */
  constructor(recorder: Recorder, name: string) {
    this.name = name;
    this.#recorder = recorder;
  }

  /**
   * Appends a point. `_ts` follows the track rules: a number is kept, `-1` reuses the experiment's
   * last timestamp (shared with tracks), absent means the wall clock (strictly increasing).
   */
  log(data: Record<string, unknown>): this {
    writeMetric(this.#recorder, this.name, data);
    return this;
  }

  /** Points `startIndex …` (at most `limit`, default 1000), as the SDK returns them. */
  async read(options: { startIndex?: number; limit?: number } = {}): Promise<MetricReadResult> {
    const { startIndex = 0, limit = 1000 } = options;
    for (const [name, value] of [
      ["startIndex", startIndex],
      ["limit", limit],
    ] as const) {
      if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
        throw dashRangeError("ERR_DASH_INVALID_ARGUMENT", `metric read: ${name} must be a non-negative integer, got ${describe(value)}`);
      }
    }
    const { points, total } = await this.#recorder.reader().readMetric(this.name, startIndex, limit);
    const data = points.map((line) => parsePythonJson(line) as MetricReadResult["data"][number]);
    return {
      data,
      startIndex,
      endIndex: data.length > 0 ? startIndex + data.length - 1 : startIndex - 1,
      total: data.length,
      hasMore: startIndex + data.length < total,
    };
  }
}

/** `experiment.params`: flattened, merged, versioned parameters. */
export interface Params {
  /** Merges `values` (nested objects flattened to dotted keys); returns all parameters. */
  set(values: Record<string, unknown>): Record<string, unknown>;
  /** All parameters, flattened. */
  get(): Record<string, unknown>;
}

export function paramsFor(recorder: () => Recorder): Params {
  return {
    set(values) {
      if (!isPlainObject(values)) {
        throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `params.set takes a plain object, got ${describe(values)}`);
      }
      const flat: Record<string, unknown> = {};
      flatten(values, "", flat, []);
      // As the SDK's json.dump: NaN and ±Infinity as Python's literals.
      const all = recorder().writer("params.set").setParameters(pythonJson(flat, "parameters"));
      return parsePythonJson(all) as Record<string, unknown>;
    },
    get() {
      return parsePythonJson(recorder().reader().parameters()) as Record<string, unknown>;
    },
  };
}
