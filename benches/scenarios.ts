/**
 * The benchmark workloads, identical for every writer. A scenario calls `append(topic, data,
 * timestamp?)` for each entry of each simulated step; `timestamp` is given only where the seed's
 * example gives one (otherwise the writer timestamps the entry itself).
 */
export type Append = (topic: string, data: Record<string, unknown>, timestamp?: number) => void | Promise<void>;

export interface Scenario {
  name: string;
  description: string;
  /** Entries appended per step. */
  entriesPerStep: number;
  /** Rows a reader sees per step (fewer than entries when entries merge). */
  rowsPerStep: number;
  /** Whether entries hold only numbers (and typed arrays of numbers). */
  numeric: boolean;
  step(i: number, append: Append): void | Promise<void>;
  /**
   * Steps `from` to `to` as columns, the same values `step` appends (for writers that take blocks
   * of columns); views valid until the next call.
   */
  block?(from: number, to: number): { topic: string; columns: Record<string, Float64Array> };
}

/** The most rows `Scenario.block` is asked for at once. */
export const BLOCK_ROWS = 10_000;
const basicColumns = {
  step: new Float64Array(BLOCK_ROWS),
  x: new Float64Array(BLOCK_ROWS),
  y: new Float64Array(BLOCK_ROWS),
  z: new Float64Array(BLOCK_ROWS),
};

/**
 * The RL scenario's state at step i: `state[k] = sin(i * 1e-3 + k)`, the same values for every
 * writer. Consecutive steps advance by a rotation (two multiply-adds per element) instead of 64
 * `Math.sin` calls, which cost ~600 ns per step on the benchmark machine, more than the appends
 * being measured; the rotated values stay within 1e-11 of `Math.sin` over a million steps (far
 * below float32 precision). Any other step is computed from `Math.sin` exactly.
 */
class RotatingState {
  readonly values = new Float32Array(64);
  readonly #sin = new Float64Array(64);
  readonly #cos = new Float64Array(64);
  #next = Number.NaN;

  at(i: number): Float32Array {
    if (i !== this.#next) {
      for (let k = 0; k < 64; k++) {
        this.#sin[k] = Math.sin(i * 1e-3 + k);
        this.#cos[k] = Math.cos(i * 1e-3 + k);
      }
    } else {
      const c = ROTATE_COS;
      const s = ROTATE_SIN;
      for (let k = 0; k < 64; k++) {
        const sin = this.#sin[k] as number;
        const cos = this.#cos[k] as number;
        this.#sin[k] = sin * c + cos * s;
        this.#cos[k] = cos * c - sin * s;
      }
    }
    this.values.set(this.#sin);
    this.#next = i + 1;
    return this.values;
  }
}
const ROTATE_COS = Math.cos(1e-3);
const ROTATE_SIN = Math.sin(1e-3);
const STATE = new RotatingState();

export const scenarios: Scenario[] = [
  {
    name: "basic",
    description: "the seed's basic usage: append({ step, x, y, z }), automatic timestamps",
    entriesPerStep: 1,
    rowsPerStep: 1,
    numeric: true,
    step: (i, append) => append("robot/position", { step: i, x: Math.sin(i * 1e-3), y: Math.cos(i * 1e-3), z: 0.3 + i * 1e-7 }),
    block(from, to) {
      const { step, x, y, z } = basicColumns;
      for (let i = from; i < to; i++) {
        const r = i - from;
        step[r] = i;
        x[r] = Math.sin(i * 1e-3);
        y[r] = Math.cos(i * 1e-3);
        z[r] = 0.3 + i * 1e-7;
      }
      const rows = to - from;
      return {
        topic: "robot/position",
        columns: { step: step.subarray(0, rows), x: x.subarray(0, rows), y: y.subarray(0, rows), z: z.subarray(0, rows) },
      };
    },
  },
  {
    name: "four-tracks",
    description: "the seed's multiple tracks: position, joints, control, sensors per step",
    entriesPerStep: 4,
    rowsPerStep: 4,
    numeric: true,
    async step(i, append) {
      const a = i * 1e-3;
      await append("robot/position", { step: i, x: Math.sin(a), y: Math.cos(a), z: 0.3 });
      await append("robot/joints", { step: i, joint1: a, joint2: -a, joint3: 0.5 * a });
      await append("robot/control", { step: i, motor1: Math.sin(a * 3), motor2: Math.cos(a * 5) });
      await append("robot/sensors", { step: i, imu_x: 0.01 * a, imu_y: 9.81, imu_z: -0.02, force: a * 2 });
    },
  },
  {
    name: "shared-timestamps",
    description: "the seed's timestamp merging: two sensors appended with one explicit timestamp",
    entriesPerStep: 2,
    rowsPerStep: 1,
    numeric: true,
    async step(i, append) {
      const timestamp = 1_700_000_000 + i * 1e-3;
      await append("multi-sensor", { temperature: 20 + Math.sin(i * 1e-3) }, timestamp);
      await append("multi-sensor", { pressure: 1013 + Math.cos(i * 1e-3) }, timestamp);
    },
  },
  {
    name: "rl-trajectory",
    description: "an RL trajectory: { episode, step, state: Float32Array(64), action, reward }",
    entriesPerStep: 1,
    rowsPerStep: 1,
    numeric: true,
    step(i, append) {
      return append("agent/trajectory", { episode: Math.floor(i / 1000), step: i % 1000, state: STATE.at(i), action: i % 4, reward: 1.0 });
    },
  },
  {
    name: "irregular",
    description: "strings and nested objects: { step, label, meta: { source, ok, tags }, note? }",
    entriesPerStep: 1,
    rowsPerStep: 1,
    numeric: false,
    step(i, append) {
      const data: Record<string, unknown> = {
        step: i,
        label: `frame_${String(i).padStart(5, "0")}.jpg`,
        meta: { source: i % 2 ? "imu" : "camera", ok: i % 7 !== 0, tags: ["sim", `ep${i % 10}`] },
      };
      if (i % 5 === 0) data.note = `checkpoint ${i}`;
      return append("robot/events", data);
    },
  },
];
