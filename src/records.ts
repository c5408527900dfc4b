/**
 * The ml-dash SDK's other records, same shapes and files: logs (`logs/logs.jsonl`), metrics
 * (`metrics/<name>/data.jsonl`) and parameters (`parameters.json`). Values are written as JSON the
 * Python SDK reads (non-ASCII escaped, `NaN`/`Infinity` literals, typed arrays as lists).
 */
import { isoNow } from "./clock.js";
import { dashRangeError, dashTypeError, describe } from "./errors.js";
import type { Recorder } from "./recorder.js";
import { isPlainObject } from "./wire.js";

export type LogLevel = "debug" | "info" | "warn" | "error" | "fatal";
const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error", "fatal"];

export interface LogOptions {
  /** Default `"info"`. */
  level?: LogLevel;
  /** Extra JSON-representable fields stored with the line. */
  metadata?: Record<string, unknown>;
}

function asciiJsonString(text: string, path: string): string {
  if (!text.isWellFormed()) {
    throw dashTypeError("ERR_DASH_UNSUPPORTED_VALUE", `${path} contains a lone surrogate, which UTF-8 cannot store`);
  }
  return JSON.stringify(text).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** How non-finite numbers are written: Python's literals, or refused (for strict JSON). */
type NonFinite = "literal" | "reject";

/**
 * A non-integral float as Python's `repr` writes it: the shortest digits that read back as the
 * same double, fixed with a decimal point when the exponent is from -4 to 15, else `d.ddde±XX`.
 */
function pythonFloat(value: number): string {
  // `String` gives the shortest digits that read back as the same double, the nearest ones when two
  // are as short (as Python does; `toExponential()` may pick the other), fixed or with an exponent.
  const text = String(Math.abs(value));
  const sign = value < 0 ? "-" : "";
  let digits: string;
  let exponent: number;
  if (text.includes("e")) {
    const [mantissa = "", exponentText = "0"] = text.split("e");
    digits = mantissa.replace(".", "");
    exponent = Number(exponentText);
  } else {
    const [whole = "", fraction = ""] = text.split(".");
    const all = `${whole}${fraction}`;
    const leadingZeros = all.length - all.replace(/^0+/, "").length;
    digits = all.slice(leadingZeros).replace(/0+$/, "") || "0";
    exponent = whole.length - 1 - leadingZeros;
  }
  if (exponent < -4 || exponent > 15) {
    const rest = digits.length > 1 ? `.${digits.slice(1)}` : "";
    return `${sign}${digits[0]}${rest}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`;
  }
  const point = exponent + 1;
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${"0".repeat(point - digits.length)}.0`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

function pythonNumber(value: number, path: string, nonFinite: NonFinite): string {
  if (Object.is(value, -0)) return "-0.0";
  // An integral number is written as Python writes an int (JS cannot tell 3 from 3.0).
  if (Number.isInteger(value)) return JSON.stringify(value);
  if (Number.isFinite(value)) return pythonFloat(value);
  if (nonFinite === "reject") {
    throw dashTypeError("ERR_DASH_UNSUPPORTED_VALUE", `${path} is ${value}; only finite numbers can be stored here`);
  }
  if (Number.isNaN(value)) return "NaN";
  return value > 0 ? "Infinity" : "-Infinity";
}

/**
 * JSON text as Python's `json.dumps` writes it (`", "` / `": "`, or with `indent` as
 * `json.dumps(value, indent=indent)`: one item per line, `","` / `": "`); throws for values JSON
 * cannot hold.
 */
export function pythonJson(value: unknown, path: string, nonFinite: NonFinite = "literal", indent?: number): string {
  return writePython(value, path, nonFinite, [], indent === undefined ? undefined : " ".repeat(indent), "");
}

/** `step`: one level of indentation (`undefined` for one line); `at`: the current indentation. */
function writePython(value: unknown, path: string, nonFinite: NonFinite, seen: object[], step: string | undefined, at: string): string {
  /** `[…]` or `{…}` around `items`, laid out as Python lays them out. */
  const wrap = (open: string, items: string[], close: string) => {
    if (items.length === 0) return `${open}${close}`;
    if (step === undefined) return `${open}${items.join(", ")}${close}`;
    const inner = `${at}${step}`;
    return `${open}\n${inner}${items.join(`,\n${inner}`)}\n${at}${close}`;
  };
  const deeper = step === undefined ? at : `${at}${step}`;
  switch (typeof value) {
    case "number":
      return pythonNumber(value, path, nonFinite);
    case "string":
      return asciiJsonString(value, path);
    case "boolean":
      return value ? "true" : "false";
    case "bigint":
      return value.toString();
    case "object": {
      if (value === null) return "null";
      if (seen.includes(value)) {
        throw dashTypeError("ERR_DASH_CIRCULAR_VALUE", `${path} refers back to itself (circular structure)`);
      }
      if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
        const items = Array.from(value as unknown as ArrayLike<number | bigint>, (v) =>
          typeof v === "bigint" ? v.toString() : pythonNumber(v, path, nonFinite),
        );
        return wrap("[", items, "]");
      }
      seen.push(value);
      let text: string;
      if (Array.isArray(value)) {
        text = wrap(
          "[",
          value.map((item, i) => writePython(item, `${path}[${i}]`, nonFinite, seen, step, deeper)),
          "]",
        );
      } else if (isPlainObject(value)) {
        const items: string[] = [];
        for (const [key, item] of Object.entries(value)) {
          if (item !== undefined) {
            items.push(`${asciiJsonString(key, path)}: ${writePython(item, `${path}.${key}`, nonFinite, seen, step, deeper)}`);
          }
        }
        text = wrap("{", items, "}");
      } else {
        throw dashTypeError("ERR_DASH_UNSUPPORTED_VALUE", `${path} is ${describe(value)}; only JSON values can be stored`);
      }
      seen.pop();
      return text;
    }
    default:
      throw dashTypeError("ERR_DASH_UNSUPPORTED_VALUE", `${path} is ${describe(value)}; only JSON values can be stored`);
  }
}

/** Parses JSON that may hold Python's `NaN` / `Infinity` / `-Infinity` literals. */
export function parsePythonJson(text: string): unknown {
  const marked = text.replace(/("(?:[^"\\]|\\.)*")|(-?Infinity|NaN)/g, (match, quoted: string | undefined) =>
    quoted !== undefined ? match : `{"$float":"${match}"}`,
  );
  return JSON.parse(marked, (_key, value: unknown) =>
    isPlainObject(value) && typeof value.$float === "string" && Object.keys(value).length === 1 ? Number(value.$float) : value,
  );
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
    metadata = pythonJson(options.metadata, "log metadata", "reject");
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
      // parameters.json is strict JSON (the SDK reads it with json.load), so no NaN / Infinity.
      return recorder()
        .writer("params.set")
        .setParameters(pythonJson(flat, "parameters", "reject"));
    },
    get() {
      return recorder().reader().parameters();
    },
  };
}
