/**
 * The code examples of the seed document (`track-api.md`) that need no simulator, ported to
 * TypeScript, each asserting the exact rows read back and that DuckDB reads the same segments.
 */
import { describe, expect, it } from "vitest";
import { Experiment } from "../src/index.js";
import { expectSegmentsMatch, readJson, tempRoot, trackDir } from "./helpers.js";

/** A deterministic stand-in for sensor noise. */
function wave(i: number, k: number): number {
  return Math.sin(i * 0.01 * k) * k;
}

function increasing(values: number[]): boolean {
  return values.every((v, i) => i === 0 || v > (values[i - 1] as number));
}

describe("seed examples", () => {
  it("basic usage: 1000 positions with automatic timestamps", async () => {
    const experiment = new Experiment("robotics/training", { dashRoot: tempRoot() });
    await experiment.run(async (experiment) => {
      for (let step = 0; step < 1000; step++) {
        experiment.track("robot/position").append({ step, x: wave(step, 1), y: wave(step, 2), z: wave(step, 3) });
      }
    });
    const reopened = await new Experiment("robotics/training", { dashRoot: experiment.dashRoot }).start();
    const { entries, count } = await reopened.track("robot/position").read();
    expect(count).toBe(1000);
    expect(entries.map(({ timestamp: _, ...fields }) => fields)).toEqual(
      Array.from({ length: 1000 }, (_, step) => ({ step, x: wave(step, 1), y: wave(step, 2), z: wave(step, 3) })),
    );
    expect(increasing(entries.map((e) => e.timestamp))).toBe(true);
    await expectSegmentsMatch(trackDir(reopened, "robot/position"), entries);
    await reopened.complete();
    const meta = readJson(`${trackDir(reopened, "robot/position")}/metadata.json`);
    expect(meta).toMatchObject({
      topic: "robot/position",
      totalEntries: 1000,
      columns: ["step", "x", "y", "z"],
      firstTimestamp: entries[0]?.timestamp,
      lastTimestamp: entries[999]?.timestamp,
    });
  });

  it("timestamp-based tracking: two sensors share explicit timestamps", async () => {
    const experiment = new Experiment("my-project/exp", { dashRoot: tempRoot() });
    const base = 1_700_000_000.125;
    await experiment.run(async (experiment) => {
      for (let i = 0; i < 100; i++) {
        const timestamp = base + i * 0.01;
        experiment.track("sensors/temperature").append({ value: 20 + i / 10 }, { timestamp });
        experiment.track("sensors/pressure").append({ value: 1000 + i }, { timestamp });
      }
      const temperature = await experiment.track("sensors/temperature").read();
      const pressure = await experiment.track("sensors/pressure").read();
      expect(temperature.entries).toEqual(Array.from({ length: 100 }, (_, i) => ({ timestamp: base + i * 0.01, value: 20 + i / 10 })));
      expect(pressure.entries).toEqual(Array.from({ length: 100 }, (_, i) => ({ timestamp: base + i * 0.01, value: 1000 + i })));
      await experiment.flush();
      await expectSegmentsMatch(trackDir(experiment, "sensors/temperature"), temperature.entries);
      await expectSegmentsMatch(trackDir(experiment, "sensors/pressure"), pressure.entries);
    });
  });

  it("multiple tracks: position, joints, control, sensors per step", async () => {
    const experiment = new Experiment("robotics/walker", { dashRoot: tempRoot() });
    await experiment.run(async (experiment) => {
      for (let step = 0; step < 1000; step++) {
        experiment.track("robot/position").append({ step, x: wave(step, 1), y: wave(step, 2), z: wave(step, 3) });
        experiment.track("robot/joints").append({ step, joint1: wave(step, 4), joint2: wave(step, 5), joint3: wave(step, 6) });
        experiment.track("robot/control").append({ step, motor1: wave(step, 7), motor2: wave(step, 8) });
        experiment.track("robot/sensors").append({
          step,
          imu_x: wave(step, 9),
          imu_y: wave(step, 10),
          imu_z: wave(step, 11),
          force: wave(step, 12),
        });
      }
      const control = await experiment.track("robot/control").read();
      expect(control.entries.map(({ timestamp: _, ...f }) => f)).toEqual(
        Array.from({ length: 1000 }, (_, step) => ({ step, motor1: wave(step, 7), motor2: wave(step, 8) })),
      );
      const sensors = await experiment.track("robot/sensors").read();
      expect(sensors.entries[999]).toMatchObject({ step: 999, force: wave(999, 12) });
      for (const topic of ["robot/position", "robot/joints", "robot/control", "robot/sensors"]) {
        const { entries, count } = await experiment.track(topic).read();
        expect(count).toBe(1000);
        await experiment.flush();
        await expectSegmentsMatch(trackDir(experiment, topic), entries);
      }
    });
  });

  it("numpy arrays: typed-array states keep their element type and values", async () => {
    const experiment = new Experiment("rl/training", { dashRoot: tempRoot() });
    const state = (episode: number) => Float64Array.from({ length: 4 }, (_, k) => wave(episode, k + 1));
    await experiment.run(async (experiment) => {
      for (let episode = 0; episode < 100; episode++) {
        experiment.track("agent/states").append({ episode, state: state(episode), reward: 0.0 });
      }
      const { entries } = await experiment.track("agent/states").read();
      expect(entries).toHaveLength(100);
      entries.forEach((entry, episode) => {
        expect(entry.state).toBeInstanceOf(Float64Array);
        expect(entry.state).toEqual(state(episode));
        expect(entry).toMatchObject({ episode, reward: 0 });
      });
      await experiment.flush();
      await expectSegmentsMatch(trackDir(experiment, "agent/states"), entries);
    });
  });

  it("reinforcement learning: trajectories and episode summaries", async () => {
    const experiment = new Experiment("rl/cartpole", { dashRoot: tempRoot() });
    const expected: Record<string, unknown>[] = [];
    await experiment.run(async (experiment) => {
      for (let episode = 0; episode < 20; episode++) {
        let state = [0.01 * episode, 0, 0.02, 0];
        let totalReward = 0;
        let step = 0;
        let done = false;
        while (!done) {
          const action = step % 2;
          const nextState = state.map((v, k) => v + (action ? 0.01 : -0.01) * (k + 1));
          const reward = 1.0;
          done = step + 1 >= 10 + episode;
          const row = { episode, step, state, action, reward, next_state: nextState };
          experiment.track("agent/trajectory").append(row);
          expected.push(row);
          state = nextState;
          totalReward += reward;
          step += 1;
        }
        experiment.track("agent/episodes").append({ episode, total_reward: totalReward, steps: step });
      }
      const trajectory = await experiment.track("agent/trajectory").read();
      expect(trajectory.entries.map(({ timestamp: _, ...f }) => f)).toEqual(expected);
      const episodes = await experiment.track("agent/episodes").read();
      expect(episodes.entries.map(({ timestamp: _, ...f }) => f)).toEqual(
        Array.from({ length: 20 }, (_, episode) => ({ episode, total_reward: 10 + episode, steps: 10 + episode })),
      );
      await experiment.flush();
      await expectSegmentsMatch(trackDir(experiment, "agent/trajectory"), trajectory.entries);
    });
  });

  it("buffering and performance: 100,000 high-frequency appends, none lost", async () => {
    const experiment = new Experiment("high-freq/tracking", { dashRoot: tempRoot() });
    await experiment.run(async (experiment) => {
      const track = experiment.track("sensor/data");
      for (let i = 0; i < 100_000; i++) track.append({ step: i, value: wave(i, 1) });
      const { entries, count } = await track.read();
      expect(count).toBe(100_000);
      expect(entries.every((e, i) => e.step === i && e.value === wave(i, 1))).toBe(true);
      expect(increasing(entries.map((e) => e.timestamp))).toBe(true);
      await experiment.flush();
      expect(experiment.stats()).toMatchObject({ entriesAppended: 100_000, entriesDurable: 100_000, entriesLost: 0 });
      await expectSegmentsMatch(trackDir(experiment, "sensor/data"), entries);
    });
  });

  it("timestamp merging: two appends with one timestamp become one entry", async () => {
    const experiment = new Experiment("merge/example", { dashRoot: tempRoot() });
    await experiment.run(async (experiment) => {
      const timestamp = 12345.67;
      experiment.track("multi-sensor").append({ temperature: 25.0 }, { timestamp });
      experiment.track("multi-sensor").append({ pressure: 1013.0 }, { timestamp });
      const { entries } = await experiment.track("multi-sensor").read();
      expect(entries).toEqual([{ timestamp: 12345.67, temperature: 25.0, pressure: 1013.0 }]);
      await experiment.flush();
      await expectSegmentsMatch(trackDir(experiment, "multi-sensor"), entries);
    });
  });

  it("frames aligned with tracks by step (frame names, no images)", async () => {
    const experiment = new Experiment("vision/tracking", { dashRoot: tempRoot() });
    await experiment.run(async (experiment) => {
      for (let step = 0; step < 1000; step++) {
        const frame = `frame_${String(step).padStart(5, "0")}.jpg`;
        experiment.track("agent/position").append({ step, frame, x: wave(step, 1), y: wave(step, 2) });
      }
      const { entries } = await experiment.track("agent/position").read();
      expect(entries).toHaveLength(1000);
      expect(entries[7]).toMatchObject({ step: 7, frame: "frame_00007.jpg" });
      expect(entries.every((e) => e.frame === `frame_${String(e.step).padStart(5, "0")}.jpg`)).toBe(true);
      await experiment.flush();
      await expectSegmentsMatch(trackDir(experiment, "agent/position"), entries);
    });
  });
});
