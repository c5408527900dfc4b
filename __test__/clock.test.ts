/** Automatic timestamps: the next representable double, exactly, however it is computed. */
import { describe, expect, it } from "vitest";
import { nextUp } from "../src/clock.js";

/** The next double by its bits (the definition): a positive double's bits, plus one. */
function nextByBits(x: number): number {
  const bits = new Float64Array([x]);
  const words = new BigUint64Array(bits.buffer);
  words[0] = (words[0] as bigint) + 1n;
  return bits[0] as number;
}

describe("nextUp", () => {
  it("is the next double for seeded random magnitudes, binade edges and subnormals, several steps in a row", () => {
    let seed = 20261202;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const starts = [1.78e9, 2 ** 31 - 2 ** -22, 2 ** 30, 2 ** -1022, 2 ** -1022 - 2 ** -1074, 5e-324, 1, 0.5, 2 ** 1023];
    for (let i = 0; i < 20_000; i++) starts.push(random() * 10 ** (random() * 600 - 300));
    for (const start of starts) {
      let x = start;
      for (let step = 0; step < 4; step++) {
        const next = nextUp(x);
        expect(next, `after ${x}`).toBe(nextByBits(x));
        x = next;
      }
    }
  });
});
