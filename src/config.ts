/**
 * Configuration: options passed to `new Experiment(…)` win over the `ML_DASH_*` environment
 * variables, which win over the defaults. Read once, when the experiment is created.
 */
import { dashRangeError, dashTypeError, describe } from "./errors.js";

export interface EngineTuning {
  /** Seconds between automatic flushes to durable segments (`ML_DASH_FLUSH_INTERVAL`, default 5). */
  flushInterval?: number;
  /** Entries buffered in JS before they cross to the engine (`ML_DASH_TRACK_BATCH_SIZE`, default 256). */
  trackBatchSize?: number;
  /** Bound on data queued for the writer thread, in bytes (default 8 MiB). */
  maxQueueBytes?: number;
  /** Bound on unsealed rows in memory, all tracks together; past it the largest is sealed (default 16 MiB). */
  maxUnsealedBytes?: number;
  /** Seconds an append may wait for room when the writer falls behind, then throws (default 30). */
  backpressureTimeout?: number;
  /**
   * When the writer falls behind: `"block"` (default; wait up to `backpressureTimeout`, lose
   * nothing), `"drop"` (drop the batch, count it in `stats().entriesDropped`, report it from the
   * next flush) or `"throw"` (the append throws `ERR_DASH_BACKPRESSURE` and is not recorded).
   */
  overload?: "block" | "drop" | "throw";
}

export interface ResolvedConfig {
  flushIntervalSeconds: number;
  trackBatchSize: number;
  maxQueueBytes: number | undefined;
  maxUnsealedBytes: number | undefined;
  backpressureTimeoutSeconds: number | undefined;
  overload: "block" | "drop" | "throw";
}

const DEFAULT_FLUSH_INTERVAL_SECONDS = 5;
/**
 * Not the SDK's 100 (its batches are network requests): a crossing costs ~1–2 µs, so at 256 it
 * stays out of the 99th percentile of append latency; the 50 ms commit timer bounds staleness.
 */
const DEFAULT_TRACK_BATCH_SIZE = 256;

function positive(name: string, value: unknown, integer: boolean): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw dashRangeError(
      "ERR_DASH_INVALID_ARGUMENT",
      `${name} must be a positive ${integer ? "integer" : "number"}, got ${describe(value)}`,
    );
  }
  return value;
}

function fromEnv(name: string, integer: boolean): number | undefined {
  const text = process.env[name];
  if (text === undefined || text.trim() === "") return undefined;
  return positive(`environment variable ${name}`, Number(text), integer);
}

function optional(name: string, value: unknown, integer: boolean): number | undefined {
  return value === undefined ? undefined : positive(name, value, integer);
}

function overloadPolicy(value: unknown): "block" | "drop" | "throw" {
  if (value === undefined) return "block";
  if (value === "block" || value === "drop" || value === "throw") return value;
  throw dashRangeError("ERR_DASH_INVALID_ARGUMENT", `overload must be "block", "drop" or "throw", got ${describe(value)}`);
}

export function resolveConfig(options: EngineTuning): ResolvedConfig {
  if (typeof options !== "object" || options === null) {
    throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `options must be an object, got ${describe(options)}`);
  }
  return {
    flushIntervalSeconds:
      optional("flushInterval", options.flushInterval, false) ?? fromEnv("ML_DASH_FLUSH_INTERVAL", false) ?? DEFAULT_FLUSH_INTERVAL_SECONDS,
    trackBatchSize:
      optional("trackBatchSize", options.trackBatchSize, true) ?? fromEnv("ML_DASH_TRACK_BATCH_SIZE", true) ?? DEFAULT_TRACK_BATCH_SIZE,
    maxQueueBytes: optional("maxQueueBytes", options.maxQueueBytes, true),
    maxUnsealedBytes: optional("maxUnsealedBytes", options.maxUnsealedBytes, true),
    backpressureTimeoutSeconds: optional("backpressureTimeout", options.backpressureTimeout, false),
    overload: overloadPolicy(options.overload),
  };
}
