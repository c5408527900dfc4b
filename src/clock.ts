/**
 * Automatic timestamps: wall-clock seconds, strictly increasing per experiment so that two
 * automatic timestamps never merge by accident. When the clock has not advanced since the last
 * one, the next representable double is used (about 0.24 µs apart at today's epoch seconds).
 *
 * "Now" comes from the engine's coarse clock while appends stream in fast: a one-element
 * Float64Array that a native thread rewrites every millisecond while batches are committed at a high
 * rate, read here for ~1 ns instead of a clock call (60–130 ns, more than the rest of an append).
 * Otherwise the slot reads 0 and `performance` is read instead, so slow appends and the first
 * ones after a pause are exact. Each JS thread loading this module gets its own slot; where the runtime
 * cannot share native memory, `performance` is always read.
 */
import { clockSlot } from "./native.js";

// `performance` is a lazy global getter in Node; looking it up per call costs more than the read.
const clock = performance;
const origin = clock.timeOrigin;
const slot: Float64Array | null = clockSlot();

const bits = new Float64Array(1);
const words = new Uint32Array(bits.buffer); // little-endian (checked in wire.ts): [low, high]

/**
 * The binade of the last `nextUp` argument: `[binadeLow, 2 * binadeLow)`, where consecutive
 * doubles are `binadeUlp` apart, so the next one is an exact addition (automatic timestamps within
 * one clock tick all fall in one binade).
 */
let binadeLow = Number.POSITIVE_INFINITY;
let binadeUlp = 0;

/** The smallest double greater than `x` (for finite positive `x`). */
export function nextUp(x: number): number {
  if (x >= binadeLow && x < 2 * binadeLow) return x + binadeUlp;
  bits[0] = x;
  const exponent = ((words[1] as number) >>> 20) & 0x7ff;
  if (exponent > 0 && exponent < 0x7ff) {
    // A normal number: x = m * ulp with m in [2^52, 2^53), so x + ulp is exact up to 2 * low.
    binadeLow = 2 ** (exponent - 1023);
    binadeUlp = 2 ** (exponent - 1075);
    return x + binadeUlp;
  }
  words[0] = (words[0] as number) + 1; // wraps to 0 on overflow
  if (words[0] === 0) words[1] = (words[1] as number) + 1;
  return bits[0] as number;
}

export class StrictClock {
  #last = 0;

  /** Seconds since the epoch, greater than every value returned before. */
  now(): number {
    const coarse = slot === null ? 0 : (slot[0] as number);
    const t = coarse > 0 ? coarse : (origin + clock.now()) / 1000;
    this.#last = t > this.#last ? t : nextUp(this.#last);
    return this.#last;
  }

  /** Records that timestamps up to `t` were handed out (after `now()`, counting on from it). */
  passed(t: number): void {
    if (t > this.#last) this.#last = t;
  }
}

/** The wall clock as the SDK writes times: ISO 8601 in UTC with microseconds (`…T21:31:41.725017Z`). */
export function isoNow(): string {
  const ms = origin + clock.now();
  const whole = Math.floor(ms);
  const micros = Math.min(999, Math.floor((ms - whole) * 1000));
  return `${new Date(whole).toISOString().slice(0, -1)}${String(micros).padStart(3, "0")}Z`;
}
