/**
 * The JS half of the binary format that crosses N-API (`crates/ingest_core/src/ingest/wire.rs`
 * is the other half and documents the layout). The encoder reads fields in JS and writes them
 * into one staging buffer per experiment; the engine receives the buffer once per batch.
 */
import { nextUp } from "./clock.js";
import { dashRangeError, dashTypeError, describe } from "./errors.js";

export const TAG_NULL = 0;
export const TAG_F64 = 1;
export const TAG_TRUE = 2;
export const TAG_FALSE = 3;
export const TAG_STR = 4;
export const TAG_BIGINT = 5;
export const TAG_F64_LIST = 6;
export const TAG_TYPED = 7;
export const TAG_JSON = 8;

/** A JS typed array of any element type. */
export type TypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

/** Element codes, in the order of `Elem::ALL` in `value.rs`. */
export const ELEM_CONSTRUCTORS = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
] as const;
const ELEM_PROTOTYPES: unknown[] = ELEM_CONSTRUCTORS.map((ctor) => ctor.prototype);
const ELEM_CODES = new Map<unknown, number>(ELEM_PROTOTYPES.map((prototype, code) => [prototype, code]));

/** Marks a numeric shape entry in the topic word (see `NUMERIC_FLAG` in wire.rs). */
const NUMERIC_FLAG = 0x8000_0000;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INITIAL_CAPACITY = 64 * 1024;
/** Strings up to this length try the hand-written ASCII copy first. */
const SHORT_STRING = 64;
/** The largest single entry accepted (the wire format's u32 lengths and the engine's memory). */
const MAX_ENTRY_BYTES = 1 << 30;

const utf8 = new TextEncoder();

// The fast path writes numbers through a Float64Array, which uses the platform's byte order.
if (new Uint8Array(Float64Array.of(1).buffer)[7] !== 0x3f) {
  throw new Error("dash-ingest supports little-endian platforms only");
}

/** What the encoder hands over once per batch. */
export interface BatchSink {
  /**
   * Takes the first `length` bytes of `buffer` (copying them). `mustWait`: wait for room even if
   * the overload policy would drop or throw (explicit flushes, reads, close).
   */
  commit(buffer: Uint8Array, length: number, entries: number, mustWait: boolean): void;
  defineKey(name: string): number;
  /** `slots`: per key, NUMBER_SLOT or the element code of a typed array. */
  defineShape(keys: Uint32Array, slots: Uint8Array): number;
}

/** What the encoder uses of a typed view of its buffer: a bulk copy from an array of its type. */
interface TypedCopy {
  set(source: TypedArray, offset: number): void;
}

/** A numeric shape slot holding a number (see `NUMBER_SLOT` in wire.rs); others hold element codes. */
const NUMBER_SLOT = 255;

/**
 * A learned numeric shape: its keys in order, what each holds (NUMBER_SLOT or a typed array's
 * element code), the bytes its entries took when learned, and its id in the engine.
 */
export interface NumericShape {
  keys: string[];
  slots: number[];
  /** How many slots hold typed arrays. */
  arrays: number;
  bytes: number;
  id: number;
  /** For a shape of numbers only, its entries' writer (see `compileNumbersWriter`). */
  write: NumbersWriter | undefined;
}

/**
 * Writes the values of an entry of one numbers-only shape at byte `at` of the staging buffer (seen
 * as `f64`) and returns where they end, or -1, writing nothing, if `data` has other keys, other
 * key order or a value that is not a number.
 */
type NumbersWriter = (data: object, f64: Float64Array, at: number) => number;

/** Shapes with more keys than this are written by the general numeric loop. */
const MAX_COMPILED_KEYS = 64;

/**
 * A writer made for one shape of numbers only: the key walk compares against the shape's keys in
 * order, then each field is read by its own name (a monomorphic property load per field) and
 * stored, with no per-field dispatch. Key names enter the code only as JSON string literals.
 */
function compileNumbersWriter(keys: string[]): NumbersWriter {
  const reads = keys.map((key, i) => `const v${i} = data[${JSON.stringify(key)}];`).join("\n");
  const notNumbers = keys.map((_, i) => `typeof v${i} !== "number"`).join(" || ");
  const writes = keys.map((_, i) => `f64[p + ${i}] = v${i};`).join("\n");
  const source = `"use strict";
return function writeNumbers(data, f64, at) {
  let i = 0;
  for (const key in data) if (key !== keys[i++]) return -1;
  if (i !== ${keys.length}) return -1;
  ${reads}
  if (${notNumbers}) return -1;
  const p = at >> 3;
  ${writes}
  return at + ${8 * keys.length};
};`;
  return new Function("keys", source)(keys.slice()) as NumbersWriter;
}

/** How many numeric shapes a topic remembers (sensors merged by timestamp alternate shapes). */
const MAX_NUMERIC_SHAPES = 4;

/**
 * Per-topic cache: the last entry's top-level keys (so a repeated shape skips key lookups), and the
 * learned numeric shapes, told apart by their first key (so an entry of only numbers with the keys
 * of one of them takes the fast path).
 */
export interface ShapeCache {
  keys: string[];
  ids: number[];
  numeric: NumericShape[];
  /** The numbers-only shape the topic's last numeric entry had, tried first. */
  last: NumericShape | undefined;
  /** The most bytes of any numeric shape's entry, to reserve room before the fast path writes. */
  numericMaxBytes: number;
}

export function newShapeCache(): ShapeCache {
  return { keys: [], ids: [], numeric: [], last: undefined, numericMaxBytes: 0 };
}

/** How deep nested objects (and JSON values) may go: deeper ones are refused, not overflowed. */
export const MAX_NESTING = 100;

/** An object literal or `Object.create(null)`: the only objects stored as fields (flattened). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * JSON text for values stored as JSON (arrays that are not all numbers), in the engine's stored
 * spelling: compact, with Python's `NaN` / `Infinity` / `-Infinity` literals and `-0.0`, as the SDK
 * keeps them. Refuses anything else JSON would change or drop (undefined, BigInt, typed arrays,
 * class instances), so what reads back is what was appended.
 */
function losslessJson(value: unknown, path: string, seen: object[]): string {
  switch (typeof value) {
    case "string":
      if (!value.isWellFormed()) {
        throw dashTypeError("ERR_DASH_UNSUPPORTED_VALUE", `${path} contains a lone surrogate, which UTF-8 cannot store`);
      }
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (Number.isFinite(value)) return Object.is(value, -0) ? "-0.0" : JSON.stringify(value);
      if (Number.isNaN(value)) return "NaN";
      return value > 0 ? "Infinity" : "-Infinity";
    case "object": {
      if (value === null) return "null";
      if (seen.includes(value)) {
        throw dashTypeError("ERR_DASH_CIRCULAR_VALUE", `${path} refers back to itself (circular structure)`);
      }
      if (seen.length >= MAX_NESTING) {
        throw dashRangeError("ERR_DASH_VALUE_OUT_OF_RANGE", `${path} is nested more than ${MAX_NESTING} levels deep`);
      }
      seen.push(value);
      let text: string;
      if (Array.isArray(value)) {
        const items: string[] = [];
        for (let i = 0; i < value.length; i++) items.push(losslessJson(value[i], `${path}[${i}]`, seen));
        text = `[${items.join(",")}]`;
      } else if (isPlainObject(value)) {
        const items: string[] = [];
        for (const key of Object.keys(value)) {
          const item = (value as Record<string, unknown>)[key];
          if (!key.isWellFormed()) {
            throw dashTypeError(
              "ERR_DASH_UNSUPPORTED_VALUE",
              `${path}: key ${describe(key)} contains a lone surrogate, which UTF-8 cannot store`,
            );
          }
          if (item !== undefined) items.push(`${JSON.stringify(key)}:${losslessJson(item, `${path}.${key}`, seen)}`);
        }
        text = `{${items.join(",")}}`;
      } else {
        throw dashTypeError(
          "ERR_DASH_UNSUPPORTED_VALUE",
          `${path} is ${describe(value)} inside an array that is not all numbers; only JSON values can be stored there`,
        );
      }
      seen.pop();
      return text;
    }
    default:
      throw dashTypeError(
        "ERR_DASH_UNSUPPORTED_VALUE",
        `${path} is ${describe(value)} inside an array; only JSON values can be stored there`,
      );
  }
}

/** Every element a well-formed string (holes of sparse arrays count as not: every() skips them). */
function allStrings(values: unknown[]): boolean {
  for (let i = 0; i < values.length; i++) {
    const item = values[i];
    if (typeof item !== "string" || !item.isWellFormed()) return false;
  }
  return true;
}

/**
 * Encodes entries into a growable staging buffer. An entry that throws while being encoded leaves
 * nothing behind (the write position rewinds to the entry's start).
 */
export class BatchEncoder {
  #buffer = new Uint8Array(INITIAL_CAPACITY);
  #view = new DataView(this.#buffer.buffer);
  #f64 = new Float64Array(this.#buffer.buffer);
  #u32 = new Uint32Array(this.#buffer.buffer);
  /** Views of the staging buffer by element code, made on first use (see `#typedView`). */
  #typedViews: (TypedCopy | undefined)[] = [];
  #pos = 0;
  #entryStart = 0;
  #entries = 0;
  /** Where the last complete entry starts (for `undoLastEntry`). */
  #lastEntryStart = 0;
  #fieldCount = 0;
  readonly #keyIds = new Map<string, number>();
  /** Dotted names and ids of nested fields by parent prefix and key, so no name is rebuilt per append. */
  readonly #nestedKeys = new Map<string, Map<string, { name: string; id: number }>>();
  /** Shape ids by their key-id signature, so alternating shapes reuse ids. */
  readonly #shapeIds = new Map<string, number>();
  /** Whether every top-level field of the entry being encoded was a number or a typed array. */
  #allSlots = false;
  /** Per top-level field of the entry being encoded: NUMBER_SLOT or the typed array's element code. */
  readonly #slots: number[] = [];
  /** The bytes the top-level fields of the entry being encoded take in the numeric form. */
  #slotBytes = 0;
  readonly #sink: BatchSink;
  /** Objects on the current nesting path, to refuse circular structures. */
  readonly #path: object[] = [];
  /** Per key id, the serial of the last general entry that wrote it (to refuse a field twice). */
  readonly #writtenIn: number[] = [];
  #entrySerial = 0;

  constructor(sink: BatchSink) {
    this.#sink = sink;
  }

  get pendingEntries(): number {
    return this.#entries;
  }

  /** Removes the last complete entry (not yet handed to the sink). */
  undoLastEntry(): void {
    if (this.#entries === 0) return;
    this.#pos = this.#lastEntryStart;
    this.#entryStart = this.#pos;
    this.#entries--;
  }

  /** Hands every complete entry to the sink (see `BatchSink.commit` for `mustWait`). */
  commit(mustWait = false): void {
    if (this.#entries === 0) return;
    this.#sink.commit(this.#buffer, this.#entryStart, this.#entries, mustWait);
    this.#entries = 0;
    this.#buffer.copyWithin(0, this.#entryStart, this.#pos);
    this.#pos -= this.#entryStart;
    this.#entryStart = 0;
  }

  /** Makes room for `n` more bytes of the current entry. */
  #reserve(n: number): void {
    const needed = this.#pos + n;
    if (needed <= this.#buffer.length) return;
    if (this.#entryStart > 0) {
      this.commit();
      if (this.#pos + n <= this.#buffer.length) return;
    }
    const size = this.#pos + n;
    if (size > MAX_ENTRY_BYTES) {
      throw dashRangeError("ERR_DASH_VALUE_OUT_OF_RANGE", `an entry of more than ${MAX_ENTRY_BYTES} bytes cannot be appended`);
    }
    let capacity = this.#buffer.length * 2;
    while (capacity < size) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.#buffer.subarray(0, this.#pos));
    this.#buffer = grown;
    this.#view = new DataView(grown.buffer);
    this.#f64 = new Float64Array(grown.buffer);
    this.#u32 = new Uint32Array(grown.buffer);
    this.#typedViews = [];
  }

  #keyId(name: string): number {
    let id = this.#keyIds.get(name);
    if (id === undefined) {
      if (!name.isWellFormed()) {
        throw dashTypeError(
          "ERR_DASH_UNSUPPORTED_VALUE",
          `field name ${describe(name)} contains a lone surrogate, which UTF-8 cannot store`,
        );
      }
      id = this.#sink.defineKey(name);
      this.#keyIds.set(name, id);
    }
    return id;
  }

  /**
   * Encodes one entry. `data` fields are read here, in JS; `_ts` is skipped (the caller resolved
   * it). Throws a `TypeError`/`RangeError` with a `code` for values that cannot be stored, in
   * which case nothing of the entry is kept.
   */
  entry(topic: number, timestamp: number, data: object, shape: ShapeCache): void {
    const last = shape.last;
    if (last !== undefined && this.#numbersEntry(topic, timestamp, data, last)) return;
    if (shape.numeric.length > 0 && this.#numericEntry(topic, timestamp, data, shape)) return;
    this.#entryStart = this.#pos;
    this.#entrySerial++;
    try {
      this.#reserve(16);
      this.#view.setUint32(this.#pos, topic, true);
      this.#f64[(this.#pos >> 3) + 1] = timestamp;
      this.#pos += 16;
      this.#fieldCount = 0;
      this.#allSlots = true;
      this.#slotBytes = 0;
      this.#topLevel(data, shape);
      // The entry may have moved (commit or growth while encoding); its start is still #entryStart.
      this.#view.setUint32(this.#entryStart + 4, this.#fieldCount, true);
      this.#reserve(8);
      this.#pos = (this.#pos + 7) & ~7;
    } catch (error) {
      this.#pos = this.#entryStart;
      this.#path.length = 0;
      throw error;
    }
    this.#lastEntryStart = this.#entryStart;
    this.#entryStart = this.#pos;
    this.#entries++;
    if (this.#allSlots && this.#fieldCount > 0) this.#learnNumericShape(shape);
  }

  /** The fastest path: `data` written by the compiled writer of `numeric`, if it fits; true if written. */
  #numbersEntry(topic: number, timestamp: number, data: object, numeric: NumericShape): boolean {
    const write = numeric.write as NumbersWriter;
    this.#reserve(numeric.bytes);
    const end = write(data, this.#f64, this.#pos + 16);
    if (end < 0) return false;
    this.#endNumericEntry(topic, numeric.id, timestamp, end);
    return true;
  }

  /**
   * The fast path: if `data` has exactly the keys of a learned numeric shape, in order, each a
   * number or a typed array as the shape says, writes a numeric entry and returns true; otherwise
   * (or if a typed array outgrew the room reserved for the shape) writes nothing and returns false.
   */
  #numericEntry(topic: number, timestamp: number, data: object, shape: ShapeCache): boolean {
    this.#reserve(shape.numericMaxBytes);
    const f64 = this.#f64;
    const end = this.#buffer.length;
    let keys: string[] = [];
    let slots: number[] = [];
    let arrays = 0;
    let matched: NumericShape | undefined;
    let n = 0;
    let i = 0;
    let at = this.#pos + 16;
    for (const key in data) {
      const value = (data as Record<string, unknown>)[key];
      if (i === 0) {
        for (const candidate of shape.numeric) {
          if (candidate.keys[0] === key) {
            matched = candidate;
            keys = candidate.keys;
            slots = candidate.slots;
            arrays = candidate.arrays;
          }
        }
        if (matched === undefined) return false;
        n = keys.length;
      }
      if (i === n || key !== keys[i]) return false;
      if (typeof value === "number") {
        // In a shape with arrays: the slot must be a number's, and there must still be room (an
        // array larger than when the shape was learned may have taken it).
        if (arrays > 0 && (slots[i] !== NUMBER_SLOT || at + 8 > end)) return false;
        f64[at >> 3] = value;
        at += 8;
      } else {
        // A typed array of the slot's type: byte length, padding, its bytes (at a multiple of 8).
        const slot = slots[i] as number;
        if (!ArrayBuffer.isView(value) || Object.getPrototypeOf(value) !== ELEM_PROTOTYPES[slot]) return false;
        const typed = value as TypedArray;
        const length = typed.byteLength;
        const start = at + 8;
        if (start + length + 7 > end) return false;
        this.#view.setUint32(at, length, true);
        if (length > 0) this.#typedView(slot).set(typed, start / typed.BYTES_PER_ELEMENT);
        at = (start + length + 7) & ~7;
      }
      i++;
    }
    if (matched === undefined || i !== n) return false;
    this.#endNumericEntry(topic, matched.id, timestamp, at);
    if (matched.write !== undefined) shape.last = matched;
    return true;
  }

  /** Writes the header of the numeric entry whose values were written up to `end`, and keeps it. */
  #endNumericEntry(topic: number, shapeId: number, timestamp: number, end: number): void {
    this.#numericHeader(this.#pos >> 3, (topic | NUMERIC_FLAG) >>> 0, shapeId, timestamp);
    this.#lastEntryStart = this.#pos;
    this.#pos = end;
    this.#entryStart = this.#pos;
    this.#entries++;
  }

  /** The header of a numeric entry starting at double `at` of the buffer; `word` has NUMERIC_FLAG. */
  #numericHeader(at: number, word: number, shapeId: number, timestamp: number): void {
    this.#u32[at * 2] = word;
    this.#u32[at * 2 + 1] = shapeId;
    this.#f64[at + 1] = timestamp;
  }

  /**
   * The learned numeric shape whose keys are `keys`, in order, every slot a number; `undefined`
   * if the topic has none (see `numberRows`).
   */
  numberShape(keys: string[], shape: ShapeCache): NumericShape | undefined {
    return shape.numeric.find((s) => s.arrays === 0 && s.keys.length === keys.length && s.keys.every((k, i) => k === keys[i]));
  }

  /**
   * Writes rows `from` to `to` of number `columns` as numeric entries of `numeric` (see
   * `numberShape`) in one pass: timestamps from `timestamps` (finite numbers, checked by the
   * caller), or else `first` and the doubles right after it, one per row. Returns the last row's
   * timestamp.
   */
  numberRows(
    topic: number,
    numeric: NumericShape,
    columns: ArrayLike<number>[],
    timestamps: ArrayLike<number> | undefined,
    first: number,
    from: number,
    to: number,
  ): number {
    const n = columns.length;
    this.#reserve(numeric.bytes * (to - from));
    const f64 = this.#f64;
    const word = (topic | NUMERIC_FLAG) >>> 0;
    let at = this.#pos >> 3; // in doubles: entries start at multiples of 8 bytes
    let timestamp = first;
    for (let row = from; row < to; row++) {
      if (timestamps !== undefined) timestamp = timestamps[row] as number;
      else if (row > from) timestamp = nextUp(timestamp);
      this.#numericHeader(at, word, numeric.id, timestamp);
      for (let c = 0; c < n; c++) f64[at + 2 + c] = (columns[c] as ArrayLike<number>)[row] as number;
      at += 2 + n;
    }
    this.#lastEntryStart = (at - 2 - n) * 8;
    this.#pos = at * 8;
    this.#entryStart = this.#pos;
    this.#entries += to - from;
    return timestamp;
  }

  /** Learns the shape of the entry just encoded in the general form. */
  #learnNumericShape(shape: ShapeCache): void {
    const count = this.#fieldCount;
    const ids = shape.ids.slice(0, count);
    const slots = this.#slots.slice(0, count);
    const signature = `${ids.join(",")}:${slots.join(",")}`;
    let id = this.#shapeIds.get(signature);
    if (id === undefined) {
      id = this.#sink.defineShape(Uint32Array.from(ids), Uint8Array.from(slots));
      this.#shapeIds.set(signature, id);
    }
    const keys = shape.keys.slice(0, count);
    // One shape per first key (the newest wins), at most MAX_NUMERIC_SHAPES (the oldest goes).
    const bytes = 16 + this.#slotBytes;
    const learned = shape.numeric.filter((s) => s.keys[0] !== keys[0]);
    const arrays = slots.filter((s) => s !== NUMBER_SLOT).length;
    const write = arrays === 0 && count <= MAX_COMPILED_KEYS ? compileNumbersWriter(keys) : undefined;
    const numeric: NumericShape = { keys, slots, arrays, bytes, id, write };
    learned.push(numeric);
    shape.numeric = learned.slice(-MAX_NUMERIC_SHAPES);
    if (write !== undefined) shape.last = numeric;
    shape.numericMaxBytes = Math.max(...shape.numeric.map((s) => s.bytes));
  }

  #topLevel(data: object, shape: ShapeCache): void {
    const record = data as Record<string, unknown>;
    let index = 0;
    this.#path.push(data);
    // for…in is the fastest key walk V8 has for plain objects (the caller checked `data` is one,
    // so every enumerable key is its own).
    for (const key in record) {
      const value = record[key];
      if (value === undefined || key === "_ts") {
        this.#allSlots = false;
        continue;
      }
      if (typeof value === "object" && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value)) {
        this.#allSlots = false;
        this.#nested(key, value);
        continue;
      }
      if (typeof value === "number") {
        this.#slots[index] = NUMBER_SLOT;
        this.#slotBytes += 8;
      } else {
        const code = ArrayBuffer.isView(value) ? ELEM_CODES.get(Object.getPrototypeOf(value)) : undefined;
        if (code === undefined) {
          this.#allSlots = false;
        } else {
          this.#slots[index] = code;
          this.#slotBytes += 8 + (((value as TypedArray).byteLength + 7) & ~7);
        }
      }
      let id: number;
      if (shape.keys[index] === key) {
        id = shape.ids[index] as number;
      } else {
        if (key === "timestamp") {
          throw dashTypeError("ERR_DASH_RESERVED_FIELD", `"timestamp" is reserved for the entry's timestamp; rename the field`);
        }
        id = this.#keyId(key);
        shape.keys[index] = key;
        shape.ids[index] = id;
      }
      index++;
      this.#field(id, value, key);
    }
    this.#path.pop();
  }

  /** Flattens a nested plain object into dotted field names. */
  #nested(prefix: string, value: object): void {
    if (this.#path.length > MAX_NESTING) {
      throw dashRangeError("ERR_DASH_VALUE_OUT_OF_RANGE", `field "${prefix}" is nested more than ${MAX_NESTING} objects deep`);
    }
    if (!isPlainObject(value)) {
      throw dashTypeError(
        "ERR_DASH_UNSUPPORTED_VALUE",
        `field "${prefix}" is ${describe(value)}; only plain objects, arrays, typed arrays and primitives can be stored`,
      );
    }
    if (this.#path.includes(value)) {
      throw dashTypeError("ERR_DASH_CIRCULAR_VALUE", `field "${prefix}" refers back to itself (circular structure)`);
    }
    this.#path.push(value);
    const record = value as Record<string, unknown>;
    let children = this.#nestedKeys.get(prefix);
    if (children === undefined) {
      children = new Map();
      this.#nestedKeys.set(prefix, children);
    }
    // for…in avoids Object.keys' array; `value` is a plain object, so its keys are its own.
    for (const key in record) {
      const item = record[key];
      if (item === undefined) continue;
      let child = children.get(key);
      if (child === undefined) {
        const name = `${prefix}.${key}`;
        child = { name, id: this.#keyId(name) };
        children.set(key, child);
      }
      if (typeof item === "object" && item !== null && !Array.isArray(item) && !ArrayBuffer.isView(item)) {
        this.#nested(child.name, item);
      } else {
        this.#field(child.id, item, child.name);
      }
    }
    // An empty object flattens to no field at all, as the SDK's flattening drops it (so a later
    // `{}` never overwrites fields an earlier entry gave the same object).
    this.#path.pop();
  }

  #field(id: number, value: unknown, name: string): void {
    // A dotted key and a nested object can name the same column ({ "a.b": 1, a: { b: 2 } }).
    if (this.#writtenIn[id] === this.#entrySerial) {
      throw dashTypeError("ERR_DASH_DUPLICATE_FIELD", `field "${name}" is given twice in one entry (a dotted key and a nested object)`);
    }
    this.#writtenIn[id] = this.#entrySerial;
    this.#reserve(5);
    this.#view.setUint32(this.#pos, id, true);
    this.#pos += 4;
    this.#fieldCount++;
    const view = this.#view;
    switch (typeof value) {
      case "number":
        this.#reserve(9);
        this.#buffer[this.#pos] = TAG_F64;
        this.#view.setFloat64(this.#pos + 1, value, true);
        this.#pos += 9;
        return;
      case "boolean":
        view.setUint8(this.#pos++, value ? TAG_TRUE : TAG_FALSE);
        return;
      case "string":
        this.#string(TAG_STR, value, name);
        return;
      case "bigint":
        if (value < INT64_MIN || value > INT64_MAX) {
          throw dashRangeError("ERR_DASH_VALUE_OUT_OF_RANGE", `field "${name}" is ${value}n, outside int64`);
        }
        this.#reserve(9);
        this.#buffer[this.#pos] = TAG_BIGINT;
        this.#view.setBigInt64(this.#pos + 1, value, true);
        this.#pos += 9;
        return;
      case "object":
        if (value === null) {
          view.setUint8(this.#pos++, TAG_NULL);
        } else if (Array.isArray(value)) {
          this.#array(value, name);
        } else if (ArrayBuffer.isView(value)) {
          this.#typed(value, name);
        } else {
          throw dashTypeError("ERR_DASH_UNSUPPORTED_VALUE", `field "${name}" is ${describe(value)}`);
        }
        return;
      default:
        throw dashTypeError(
          "ERR_DASH_UNSUPPORTED_VALUE",
          `field "${name}" is ${describe(value)}; functions, symbols and undefined-only values cannot be stored`,
        );
    }
  }

  #string(tag: number, value: string, name: string): void {
    const length = value.length;
    if (length <= SHORT_STRING) {
      // Short ASCII strings (most labels and names): copied by hand, cheaper than encodeInto.
      this.#reserve(5 + length);
      const buffer = this.#buffer;
      const start = this.#pos + 5;
      let i = 0;
      for (; i < length; i++) {
        const code = value.charCodeAt(i);
        if (code >= 0x80) break;
        buffer[start + i] = code;
      }
      if (i === length) {
        buffer[this.#pos] = tag;
        this.#view.setUint32(this.#pos + 1, length, true);
        this.#pos = start + length;
        return;
      }
    }
    if (!value.isWellFormed()) {
      throw dashTypeError("ERR_DASH_UNSUPPORTED_VALUE", `field "${name}" contains a lone surrogate, which UTF-8 cannot store`);
    }
    this.#reserve(5 + value.length * 3);
    this.#buffer[this.#pos] = tag;
    const { written } = utf8.encodeInto(value, this.#buffer.subarray(this.#pos + 5));
    this.#view.setUint32(this.#pos + 1, written, true);
    this.#pos += 5 + written;
  }

  #json(text: string): void {
    this.#string(TAG_JSON, text, "");
  }

  /**
   * Writes an array of short printable-ASCII strings without quotes or backslashes (tags, names)
   * as JSON text by hand, exactly what JSON.stringify would make, and returns true; returns false
   * (having written nothing) for any other array.
   */
  #plainStringArray(value: unknown[]): boolean {
    let bound = 2;
    for (let i = 0; i < value.length; i++) {
      const item = value[i];
      if (typeof item !== "string" || item.length > SHORT_STRING) return false;
      bound += item.length + 3;
    }
    this.#reserve(5 + bound);
    const buffer = this.#buffer;
    const start = this.#pos + 5;
    let at = start;
    buffer[at++] = 0x5b; // [
    for (let i = 0; i < value.length; i++) {
      const item = value[i] as string;
      if (i > 0) buffer[at++] = 0x2c; // ,
      buffer[at++] = 0x22; // "
      for (let k = 0; k < item.length; k++) {
        const code = item.charCodeAt(k);
        // Printable ASCII except " and \, which JSON writes as is.
        if (code < 0x20 || code > 0x7e || code === 0x22 || code === 0x5c) return false;
        buffer[at++] = code;
      }
      buffer[at++] = 0x22;
    }
    buffer[at++] = 0x5d; // ]
    buffer[this.#pos] = TAG_JSON;
    this.#view.setUint32(this.#pos + 1, at - start, true);
    this.#pos = at;
    return true;
  }

  #array(value: unknown[], name: string): void {
    let numeric = true;
    for (let i = 0; i < value.length; i++) {
      if (typeof value[i] !== "number") {
        numeric = false;
        break;
      }
    }
    if (!numeric) {
      if (this.#plainStringArray(value)) return;
      if (allStrings(value)) {
        // Only strings: JSON.stringify keeps every one exactly.
        this.#json(JSON.stringify(value));
        return;
      }
      if (this.#path.includes(value)) {
        throw dashTypeError("ERR_DASH_CIRCULAR_VALUE", `field "${name}" refers back to itself (circular structure)`);
      }
      this.#json(losslessJson(value, `field "${name}"`, [...this.#path]));
      return;
    }
    this.#reserve(5 + value.length * 8);
    this.#buffer[this.#pos] = TAG_F64_LIST;
    this.#view.setUint32(this.#pos + 1, value.length, true);
    let at = this.#pos + 5;
    for (let i = 0; i < value.length; i++, at += 8) this.#view.setFloat64(at, value[i] as number, true);
    this.#pos = at;
  }

  #typed(value: ArrayBufferView, name: string): void {
    const code = ELEM_CODES.get(Object.getPrototypeOf(value));
    if (code === undefined) {
      throw dashTypeError(
        "ERR_DASH_UNSUPPORTED_VALUE",
        `field "${name}" is ${describe(value)}; use a typed array (DataView and subclasses are not stored)`,
      );
    }
    const length = value.byteLength;
    this.#reserve(13 + length);
    this.#buffer[this.#pos] = TAG_TYPED;
    this.#buffer[this.#pos + 1] = code;
    this.#view.setUint32(this.#pos + 2, length, true);
    // The bytes start at a multiple of 8, so a view of the value's own type copies them in one
    // memcpy, with no view object created per entry. (A view of a detached buffer has no bytes.)
    const start = (this.#pos + 13) & ~7;
    const typed = value as TypedArray; // its prototype is one of ELEM_CONSTRUCTORS
    if (length > 0) this.#typedView(code).set(typed, start / typed.BYTES_PER_ELEMENT);
    this.#pos = start + length;
  }

  /** A view of the staging buffer with the element type of `code` (made once per buffer). */
  #typedView(code: number): TypedCopy {
    let view = this.#typedViews[code];
    if (view === undefined) {
      const Ctor = ELEM_CONSTRUCTORS[code] as (typeof ELEM_CONSTRUCTORS)[number];
      // Every element type's `set` copies a typed array of the same type (TS cannot see that
      // through the union of their signatures).
      view = new Ctor(this.#buffer.buffer) as unknown as TypedCopy;
      this.#typedViews[code] = view;
    }
    return view;
  }
}
