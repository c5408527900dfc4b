/**
 * Errors thrown by dash-ingest. Every error carries a stable `code`; match on it, not on the
 * message. Engine errors (`ERR_DASH_IO`, `ERR_DASH_BACKPRESSURE`, …) come from the Rust core with
 * the same `code` property, and an operating-system failure under one (`ERR_DASH_IO`) is its
 * `cause`: an `Error` whose `code` is the POSIX name (`ENOSPC`, `EACCES`, …).
 */

/** Every code a dash-ingest error can carry. */
export const ERROR_CODES = [
  "ERR_DASH_INVALID_ARGUMENT",
  "ERR_DASH_INVALID_TIMESTAMP",
  "ERR_DASH_UNSUPPORTED_VALUE",
  "ERR_DASH_CIRCULAR_VALUE",
  "ERR_DASH_RESERVED_FIELD",
  "ERR_DASH_DUPLICATE_FIELD",
  "ERR_DASH_VALUE_OUT_OF_RANGE",
  "ERR_DASH_NOT_STARTED",
  "ERR_DASH_READ_ONLY",
  "ERR_DASH_NOT_FOUND",
  "ERR_DASH_LOCKED",
  "ERR_DASH_INVALID_IMAGE",
  "ERR_DASH_NO_ENTRY",
  "ERR_DASH_MALFORMED_BATCH",
  "ERR_DASH_UNKNOWN_ID",
  "ERR_DASH_CLOSED",
  "ERR_DASH_INVALID_NAME",
  "ERR_DASH_TOPIC_COLLISION",
  "ERR_DASH_IO",
  "ERR_DASH_BACKPRESSURE",
  "ERR_DASH_DROPPED",
  "ERR_DASH_TIMEOUT",
  "ERR_DASH_UNSAFE_PATH",
  "ERR_DASH_CORRUPT",
  "ERR_DASH_WRITER",
  "ERR_DASH_INTERNAL",
  "ERR_DASH_NATIVE_MISSING",
  "ERR_DASH_UNAUTHORIZED",
  "ERR_DASH_TOO_LARGE",
  "ERR_DASH_REMOTE_REFUSED",
  "ERR_DASH_REMOTE_TIMEOUT",
] as const;

export type DashErrorCode = (typeof ERROR_CODES)[number];

export interface DashError extends Error {
  code: DashErrorCode;
}

function withCode<E extends Error>(error: E, code: DashErrorCode): E & DashError {
  return Object.assign(error, { code });
}

export function dashTypeError(code: DashErrorCode, message: string): TypeError & DashError {
  return withCode(new TypeError(message), code);
}

export function dashRangeError(code: DashErrorCode, message: string): RangeError & DashError {
  return withCode(new RangeError(message), code);
}

export function dashError(code: DashErrorCode, message: string): Error & DashError {
  return withCode(new Error(message), code);
}

/** A short, safe rendering of a user value for error messages. */
export function describe(value: unknown): string {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
    case "bigint":
      return `${value}n`;
    case "symbol":
      return value.toString();
    case "function":
      return `function ${value.name || "(anonymous)"}`;
    case "object":
      if (value === null) return "null";
      return Array.isArray(value) ? "an array" : `an object (${value.constructor?.name ?? "null prototype"})`;
    default:
      return String(value);
  }
}
