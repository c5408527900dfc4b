/**
 * JSON as Python's `json` module writes and reads it (the SDK's files): `json.dumps` spelling
 * (separators, ASCII escapes, float `repr`, `indent`), and `NaN` / `Infinity` / `-Infinity`.
 */
import { dashTypeError, describe } from "./errors.js";
import { isPlainObject } from "./wire.js";

function asciiJsonString(text: string, path: string): string {
  if (!text.isWellFormed()) {
    throw dashTypeError("ERR_DASH_UNSUPPORTED_VALUE", `${path} contains a lone surrogate, which UTF-8 cannot store`);
  }
  return JSON.stringify(text).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** How non-finite numbers are written: Python's literals, or refused (for strict JSON). */
export type NonFinite = "literal" | "reject";

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
  // An integral number is written as Python writes an int (JS cannot tell 3 from 3.0), where it
  // is exact: beyond 2^53 a double is a float, as Python writes it (-3.3261620356373033e+19).
  if (Number.isSafeInteger(value)) return JSON.stringify(value);
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

/**
 * Parses JSON that may hold Python's `NaN` / `Infinity` / `-Infinity` literals (the SDK's files, and
 * the engine's JSON values). Each literal becomes a marker string, `"\u0000NaN"`, and each real
 * string that starts with U+0000 gets one more in front, so no real string reads as a marker; the
 * reviver turns both back (keys too), so what reads back is what was written.
 */
export function parsePythonJson(text: string): unknown {
  if (!MAY_NEED_MARKS.test(text)) return JSON.parse(text);
  const marked = text.replace(TOKENS, (match, quoted: string | undefined) => {
    if (quoted === undefined) return `"\\u0000${match}"`;
    return quoted.startsWith('"\\u0000') ? `"\\u0000${quoted.slice(1)}` : quoted;
  });
  return JSON.parse(marked, unmark);
}

/** Text without these parses as plain JSON. */
const MAY_NEED_MARKS = /NaN|Infinity|\\u0000/;
/** A JSON string (group 1), or one of Python's non-finite literals outside strings. */
const TOKENS = /("(?:[^"\\]|\\.)*")|-?Infinity|NaN/g;
const NON_FINITE: Record<string, number> = {
  "\u0000NaN": Number.NaN,
  "\u0000Infinity": Number.POSITIVE_INFINITY,
  "\u0000-Infinity": Number.NEGATIVE_INFINITY,
};

function unmark(_key: string, value: unknown): unknown {
  if (typeof value === "string") {
    if (!value.startsWith("\u0000")) return value;
    return Object.hasOwn(NON_FINITE, value) ? NON_FINITE[value] : value.slice(1);
  }
  if (!isPlainObject(value) || !Object.keys(value).some((key) => key.startsWith("\u0000"))) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    // defineProperty: a key "__proto__" is data, not the prototype.
    Object.defineProperty(out, key.startsWith("\u0000") ? key.slice(1) : key, {
      value: item,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}
