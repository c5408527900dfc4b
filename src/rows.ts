/**
 * Decoding the engine's wire `rows` (see `crates/ingest_core/src/ingest/wire.rs` and
 * `merge/rows.rs`) into entries: the read half of the format whose write half is `wire.ts`.
 */
import { parsePythonJson } from "./python-json.js";
import {
  ELEM_CONSTRUCTORS,
  TAG_BIGINT,
  TAG_F64,
  TAG_F64_LIST,
  TAG_FALSE,
  TAG_JSON,
  TAG_NULL,
  TAG_STR,
  TAG_TRUE,
  TAG_TYPED,
  type TypedArray,
} from "./wire.js";

const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/** A value read back: what was appended, with the same JS type. */
export type FieldValue = number | boolean | string | bigint | null | number[] | TypedArray | unknown[] | Record<string, unknown>;

/** An entry read back: its timestamp plus its (flattened) fields. */
export type Entry = { timestamp: number } & Record<string, FieldValue>;

/** Reads the engine's wire values (see `encode_value` in `wire.rs`) from a position on. */
class WireReader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  pos = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  u8(): number {
    return this.#view.getUint8(this.pos++);
  }

  u32(): number {
    const v = this.#view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  f64(): number {
    const v = this.#view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  text(): string {
    const len = this.u32();
    const s = utf8Decoder.decode(this.#bytes.subarray(this.pos, this.pos + len));
    this.pos += len;
    return s;
  }

  /**
   * `count` doubles from the next multiple of 8: a view of the engine's answer where it is
   * 8-aligned in memory (the answer is the caller's alone), a copy otherwise.
   */
  doubles(count: number): Float64Array {
    this.pos = (this.pos + 7) & ~7;
    const start = this.#bytes.byteOffset + this.pos;
    this.pos += count * 8;
    if (start % 8 === 0) return new Float64Array(this.#bytes.buffer, start, count);
    return new Float64Array(this.#bytes.buffer.slice(start, start + count * 8));
  }

  value(): FieldValue {
    const tag = this.u8();
    switch (tag) {
      case TAG_NULL:
        return null;
      case TAG_F64:
        return this.f64();
      case TAG_TRUE:
        return true;
      case TAG_FALSE:
        return false;
      case TAG_STR:
        return this.text();
      case TAG_BIGINT: {
        const v = this.#view.getBigInt64(this.pos, true);
        this.pos += 8;
        return v;
      }
      case TAG_F64_LIST: {
        const count = this.u32();
        const out = new Array<number>(count);
        for (let i = 0; i < count; i++) out[i] = this.f64();
        return out;
      }
      case TAG_TYPED: {
        const Ctor = ELEM_CONSTRUCTORS[this.u8()];
        const len = this.u32();
        if (Ctor === undefined) throw new Error("dash-ingest: unknown element code from the engine");
        this.pos = (this.pos + 7) & ~7; // the bytes start at a multiple of 8 (see TAG_TYPED in wire.rs)
        // Copy into a fresh, aligned buffer the caller owns (Buffer#slice would share memory).
        const copy = new Uint8Array(len);
        copy.set(this.#bytes.subarray(this.pos, this.pos + len));
        this.pos += len;
        return new Ctor(copy.buffer, 0, len / Ctor.BYTES_PER_ELEMENT);
      }
      case TAG_JSON:
        return parsePythonJson(this.text()) as unknown[] | Record<string, unknown>;
      default:
        throw new Error(`dash-ingest: unknown value tag ${tag} from the engine`);
    }
  }
}

/** Sets `name` as an own property: a field named "__proto__" is data (assigning would set the prototype). */
function setOwn(target: Record<string, unknown>, name: string, item: unknown): void {
  if (name === "__proto__") Object.defineProperty(target, name, { value: item, enumerable: true, writable: true, configurable: true });
  else target[name] = item;
}

/** See `ENTRIES_AS_*` in `merge/rows.rs`. */
const ENTRIES_AS_ROWS = 0;

/** Decodes wire `entries` from the engine (rows, or columns built into entries). */
export function decodeEntries(bytes: Uint8Array): Entry[] {
  const reader = new WireReader(bytes);
  return reader.u8() === ENTRIES_AS_ROWS ? readRows(reader) : entriesOf(readColumns(reader));
}

/** Reads wire `rows` into entries. */
function readRows(reader: WireReader): Entry[] {
  const names: string[] = [];
  for (let i = reader.u32(); i > 0; i--) names.push(reader.text());
  const rows = reader.u32();
  const entries: Entry[] = new Array(rows);
  for (let r = 0; r < rows; r++) {
    const entry: Entry = { timestamp: reader.f64() } as Entry;
    for (let f = reader.u32(); f > 0; f--) setOwn(entry, names[reader.u32()] as string, reader.value());
    entries[r] = entry;
  }
  return entries;
}

/** A column of `read({ format: "columns" })`: numbers as doubles, other values with absent cells `undefined`. */
export type ColumnValues = Float64Array | (FieldValue | undefined)[];

/** What `read({ format: "columns" })` resolves to: one array per column, no object per row. */
export interface TrackColumns {
  count: number;
  columns: { timestamp: Float64Array } & Record<string, ColumnValues>;
}

/** See `COLUMN_NUMBERS` / `COLUMN_VALUES` in `merge/rows.rs`. */
const COLUMN_NUMBERS = 0;

/** Decodes wire `columns` from the engine. */
export function decodeColumns(bytes: Uint8Array): TrackColumns {
  return readColumns(new WireReader(bytes));
}

function readColumns(reader: WireReader): TrackColumns {
  const count = reader.u32();
  const columns = { timestamp: reader.doubles(count) } as TrackColumns["columns"];
  for (let c = reader.u32(); c > 0; c--) {
    const name = reader.text();
    let values: ColumnValues;
    if (reader.u8() === COLUMN_NUMBERS) values = reader.doubles(count);
    else {
      values = new Array(count);
      for (let r = 0; r < count; r++) values[r] = reader.u8() === 1 ? reader.value() : undefined;
    }
    setOwn(columns, name, values);
  }
  return { count, columns };
}

/** A function building the entries of columns of one shape (see `entryBuilder`). */
type EntryBuilder = (columns: ColumnValues[], count: number, set: typeof setOwn) => Entry[];

/** Entry builders by shape (column names, and which are all numbers), made once per shape. */
const builders = new Map<string, EntryBuilder>();
/** Shapes kept at most: a process reading tracks of ever new shapes does not grow without bound. */
const MAX_BUILDERS = 256;

/**
 * A function that builds the entries of columns named `names` whose columns `dense[k]` hold a
 * number in every row: one object literal per row with the same properties in the same order (one
 * hidden class for the whole read, no per-cell dispatch), then each other column's present cells.
 * Names are JSON string literals in the code; `__proto__` is set as data through `set`.
 */
function entryBuilder(names: string[], dense: boolean[]): EntryBuilder {
  const key = `${JSON.stringify(names)}|${dense.map(Number).join("")}`;
  const known = builders.get(key);
  if (known !== undefined) return known;
  const literal: string[] = [];
  const after: string[] = [];
  names.forEach((name, k) => {
    const quoted = JSON.stringify(name);
    const plain = name !== "__proto__";
    if (dense[k] && plain && after.length === 0) literal.push(`${quoted}: c${k}[i]`);
    else if (dense[k] && plain) after.push(`row[${quoted}] = c${k}[i];`);
    else if (plain) after.push(`v = c${k}[i]; if (v !== undefined) row[${quoted}] = v;`);
    else after.push(`v = c${k}[i]; if (v !== undefined) set(row, ${quoted}, v);`);
  });
  const body = `"use strict";
    ${names.map((_, k) => `const c${k} = columns[${k}];`).join("\n")}
    const out = new Array(count);
    let v;
    for (let i = 0; i < count; i++) {
      const row = { ${literal.join(", ")} };
      ${after.join("\n")}
      out[i] = row;
    }
    return out;`;
  const build = new Function("columns", "count", "set", body) as EntryBuilder;
  if (builders.size >= MAX_BUILDERS) builders.clear();
  builders.set(key, build);
  return build;
}

/** The entries of columns: what a read of rows gives, built from them. */
function entriesOf({ count, columns }: TrackColumns): Entry[] {
  const names = Object.keys(columns);
  const values = names.map((name) => columns[name] as ColumnValues);
  return entryBuilder(
    names,
    values.map((column) => column instanceof Float64Array),
  )(values, count, setOwn);
}
