/**
 * The seed's "Complete Robot Tracking" example on a simulated two-link planar arm (no MuJoCo):
 * 1000 simulation steps; every 4th step renders a 640×480 camera frame of the arm, saves it as
 * `frame_{i:05d}.jpg` (quality 85) and records the end-effector position (with the frame's name)
 * and the controls, aligned by step.
 *
 *   npm run demo            # writes to .dash/robotics/complete-tracking
 */
import { Experiment } from "../src/index.js";

const WIDTH = 640;
const HEIGHT = 480;

/** A two-link arm driven by joint torques, integrated with semi-implicit Euler at 500 Hz. */
class TwoLinkArm {
  readonly links = [0.5, 0.4] as const;
  readonly baseHeight = 0.3;
  readonly dt = 0.002;
  angles = [0.2, 0.4];
  velocities = [0, 0];
  ctrl = [0, 0];

  step(): void {
    for (let j = 0; j < 2; j++) {
      const acceleration = 40 * (this.ctrl[j] as number) - 2 * (this.velocities[j] as number) - 20 * (this.angles[j] as number);
      this.velocities[j] = (this.velocities[j] as number) + acceleration * this.dt;
      this.angles[j] = (this.angles[j] as number) + (this.velocities[j] as number) * this.dt;
    }
  }

  /** Elbow and end effector in the arm's plane (metres), base at the origin. */
  joints(): { elbow: [number, number]; tip: [number, number] } {
    const [q1, q2] = this.angles as [number, number];
    const [l1, l2] = this.links;
    const elbow: [number, number] = [l1 * Math.cos(q1), l1 * Math.sin(q1)];
    return { elbow, tip: [elbow[0] + l2 * Math.cos(q1 + q2), elbow[1] + l2 * Math.sin(q1 + q2)] };
  }
}

/** A tiny software renderer: a gradient floor, the two links as thick lines, the joints as discs. */
class Camera {
  readonly pixels = new Uint8Array(WIDTH * HEIGHT * 3);
  readonly scale = 220; // pixels per metre

  #toScreen([x, y]: [number, number]): [number, number] {
    return [WIDTH / 2 + x * this.scale, HEIGHT * 0.55 - y * this.scale];
  }

  #disc(cx: number, cy: number, radius: number, rgb: [number, number, number]): void {
    for (let y = Math.max(0, Math.floor(cy - radius)); y <= Math.min(HEIGHT - 1, Math.ceil(cy + radius)); y++) {
      for (let x = Math.max(0, Math.floor(cx - radius)); x <= Math.min(WIDTH - 1, Math.ceil(cx + radius)); x++) {
        if ((x - cx) ** 2 + (y - cy) ** 2 <= radius * radius) this.pixels.set(rgb, (y * WIDTH + x) * 3);
      }
    }
  }

  #segment(a: [number, number], b: [number, number], width: number, rgb: [number, number, number]): void {
    const steps = Math.ceil(Math.hypot(b[0] - a[0], b[1] - a[1]) / 2);
    for (let s = 0; s <= steps; s++) {
      const t = s / steps;
      this.#disc(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, width / 2, rgb);
    }
  }

  render(arm: TwoLinkArm): Uint8Array {
    for (let y = 0; y < HEIGHT; y++) {
      const shade = 40 + Math.round((y / HEIGHT) * 60);
      for (let x = 0; x < WIDTH; x++) this.pixels.set([shade, shade + 10, shade + 25], (y * WIDTH + x) * 3);
    }
    const { elbow, tip } = arm.joints();
    const [base, e, t] = [this.#toScreen([0, 0]), this.#toScreen(elbow), this.#toScreen(tip)];
    this.#segment(base, e, 18, [230, 120, 40]);
    this.#segment(e, t, 14, [60, 170, 230]);
    this.#disc(base[0], base[1], 14, [240, 240, 240]);
    this.#disc(e[0], e[1], 10, [240, 240, 240]);
    this.#disc(t[0], t[1], 8, [250, 60, 60]);
    return this.pixels;
  }
}

async function main(): Promise<void> {
  const experiment = new Experiment("robotics/complete-tracking", { tags: ["two-link-arm", "tracking"] });
  await experiment.run(async (experiment) => {
    experiment.log("Starting robot tracking experiment");
    const arm = new TwoLinkArm();
    const camera = new Camera();
    const steps = 1000;
    const recordInterval = 4;

    for (let i = 0; i < steps; i++) {
      const ctrl1 = 4.0 * Math.sin(i * 0.03);
      const ctrl2 = 2.5 * Math.sin(i * 0.05);
      arm.ctrl = [ctrl1, ctrl2];
      arm.step();

      if (i % recordInterval === 0) {
        const frame = `frame_${String(i).padStart(5, "0")}.jpg`;
        experiment.files("robot/frames").saveImage({ data: camera.render(arm), width: WIDTH, height: HEIGHT }, { to: frame, quality: 85 });
        const [x, y] = arm.joints().tip;
        const z = arm.baseHeight;
        experiment.track("robot/position").append({ step: i, frame, x, y, z });
        experiment.track("robot/control").append({ step: i, ctrl_1: ctrl1, ctrl_2: ctrl2 });
        experiment.log(`Step ${String(i).padStart(3)}: pos=(${x.toFixed(4)}, ${y.toFixed(4)}, ${z.toFixed(4)})`);
      }
    }
    experiment.log("Tracking complete!");
    await experiment.flush();

    console.log(`Recorded ${steps} steps of a two-link arm, every ${recordInterval}th step:`);
    for (const topic of ["robot/position", "robot/control"]) {
      const { count, entries } = await experiment.track(topic).read();
      console.log(`  track ${topic}: ${count} rows, fields ${Object.keys(entries[0] ?? {}).join(", ")}`);
    }
    const frames = await experiment.files("robot/frames").list("frame_*.jpg");
    console.log(`  files robot/frames: ${frames.length} JPEG frames (${frames[0]?.filename} … ${frames[frames.length - 1]?.filename})`);
  });
  console.log(`Data written to ${experiment.dir} (status ${experiment.status}):`);
  console.log(`  tracks/robot_position/*.parquet, tracks/robot_control/*.parquet`);
  console.log(`  files/robot/frames/<id>/frame_*.jpg, files/.files_metadata.json, logs/logs.jsonl`);
  console.log(`Look at it: npx dash-ingest view ${experiment.prefix}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
