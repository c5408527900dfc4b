/**
 * Automatic timestamps: wall-clock seconds, strictly increasing per experiment so that two
 * automatic timestamps never merge by accident. When the clock has not advanced since the last
 * one, the next representable double is used (about 0.24 µs apart at today's epoch seconds).
 */
// `performance` is a lazy global getter in Node; looking it up per call costs more than the read.
const clock = performance;
const origin = clock.timeOrigin;
const bits = new Float64Array(1);
const asInt = new BigInt64Array(bits.buffer);

/** The smallest double greater than `x` (for finite positive `x`). */
export function nextUp(x: number): number {
  bits[0] = x;
  asInt[0] = (asInt[0] as bigint) + 1n;
  return bits[0] as number;
}

export class StrictClock {
  #last = 0;

  /** Seconds since the epoch, greater than every value returned before. */
  now(): number {
    const t = (origin + clock.now()) / 1000;
    this.#last = t > this.#last ? t : nextUp(this.#last);
    return this.#last;
  }
}
