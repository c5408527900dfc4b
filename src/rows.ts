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

/** Decodes wire `rows` from the engine into entries. */
export function decodeRows(bytes: Uint8Array): Entry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  const u32 = (): number => {
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const text = (): string => {
    const len = u32();
    const s = utf8Decoder.decode(bytes.subarray(pos, pos + len));
    pos += len;
    return s;
  };
  const value = (): FieldValue => {
    const tag = view.getUint8(pos++);
    switch (tag) {
      case TAG_NULL:
        return null;
      case TAG_F64: {
        const v = view.getFloat64(pos, true);
        pos += 8;
        return v;
      }
      case TAG_TRUE:
        return true;
      case TAG_FALSE:
        return false;
      case TAG_STR:
        return text();
      case TAG_BIGINT: {
        const v = view.getBigInt64(pos, true);
        pos += 8;
        return v;
      }
      case TAG_F64_LIST: {
        const count = u32();
        const out = new Array<number>(count);
        for (let i = 0; i < count; i++, pos += 8) out[i] = view.getFloat64(pos, true);
        return out;
      }
      case TAG_TYPED: {
        const Ctor = ELEM_CONSTRUCTORS[view.getUint8(pos++)];
        const len = u32();
        if (Ctor === undefined) throw new Error("dash-ingest: unknown element code from the engine");
        pos = (pos + 7) & ~7; // the bytes start at a multiple of 8 (see TAG_TYPED in wire.rs)
        // Copy into a fresh, aligned buffer the caller owns (Buffer#slice would share memory).
        const copy = new Uint8Array(len);
        copy.set(bytes.subarray(pos, pos + len));
        pos += len;
        return new Ctor(copy.buffer, 0, len / Ctor.BYTES_PER_ELEMENT);
      }
      case TAG_JSON:
        return parsePythonJson(text()) as unknown[] | Record<string, unknown>;
      default:
        throw new Error(`dash-ingest: unknown value tag ${tag} from the engine`);
    }
  };

  const names: string[] = [];
  for (let i = u32(); i > 0; i--) names.push(text());
  // A field named "__proto__" is data like any other: assigning it would set the prototype.
  const own = (entry: Entry, name: string, item: unknown) =>
    Object.defineProperty(entry, name, { value: item, enumerable: true, writable: true, configurable: true });
  const rows = u32();
  const entries: Entry[] = new Array(rows);
  for (let r = 0; r < rows; r++) {
    const entry: Entry = { timestamp: view.getFloat64(pos, true) } as Entry;
    pos += 8;
    for (let f = u32(); f > 0; f--) {
      const name = names[u32()] as string;
      if (name === "__proto__") own(entry, name, value());
      else entry[name] = value();
    }
    entries[r] = entry;
  }
  return entries;
}
