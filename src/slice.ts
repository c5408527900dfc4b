/** `TrackSlice`: entries of a time range, iterable, with floor-match lookups by time. */
import { dashRangeError, dashTypeError, describe } from "./errors.js";
import type { Entry } from "./rows.js";

/**
 * Entries sorted by timestamp. `findByTime(t)` returns the entry with the largest timestamp ≤ t
 * (floor match) in O(log n); a time before the first entry, or any lookup in an empty slice,
 * throws a `RangeError` with code `ERR_DASH_NO_ENTRY`.
 */
export class TrackSlice implements Iterable<Entry> {
  readonly #entries: Entry[];
  readonly #timestamps: Float64Array;
  readonly topic: string;

  /** @internal Use `track.slice(start, end)`. */
  constructor(topic: string, entries: Entry[]) {
    this.topic = topic;
    this.#entries = entries;
    this.#timestamps = Float64Array.from(entries, (e) => e.timestamp);
  }

  get length(): number {
    return this.#entries.length;
  }

  [Symbol.iterator](): Iterator<Entry> {
    return this.#entries[Symbol.iterator]();
  }

  /** The entries as an array (a copy). */
  toArray(): Entry[] {
    return [...this.#entries];
  }

  findByTime(time: number): Entry;
  findByTime(times: readonly number[]): Entry[];
  findByTime(time: number | readonly number[]): Entry | Entry[] {
    if (Array.isArray(time)) return time.map((t: unknown) => this.#floor(t));
    return this.#floor(time);
  }

  #floor(time: unknown): Entry {
    if (typeof time !== "number" || Number.isNaN(time)) {
      throw dashTypeError("ERR_DASH_INVALID_TIMESTAMP", `findByTime: expected a number of seconds, got ${describe(time)}`);
    }
    const timestamps = this.#timestamps;
    if (timestamps.length === 0) {
      throw dashRangeError("ERR_DASH_NO_ENTRY", `findByTime(${time}): the slice of track "${this.topic}" is empty`);
    }
    // Upper bound: the first index whose timestamp is > time.
    let lo = 0;
    let hi = timestamps.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((timestamps[mid] as number) <= time) lo = mid + 1;
      else hi = mid;
    }
    if (lo === 0) {
      throw dashRangeError(
        "ERR_DASH_NO_ENTRY",
        `findByTime(${time}): no entry of track "${this.topic}" at or before it; the first is at ${timestamps[0]}`,
      );
    }
    return this.#entries[lo - 1] as Entry;
  }
}
