/**
 * The seed's "Complete Robot Tracking" example on a simulated two-link planar arm (no MuJoCo):
 * 1000 simulation steps, every 4th step recording the end-effector position and the controls.
 *
 *   npm run demo            # writes to .dash/robotics/complete-tracking
 */
import { Experiment } from "../src/index.js";

/** A two-link arm driven by joint torques, integrated with semi-implicit Euler at 500 Hz. */
class TwoLinkArm {
  readonly links = [0.5, 0.4];
  readonly baseHeight = 0.3;
  readonly dt = 0.002;
  angles = [0.2, 0.4];
  velocities = [0, 0];
  ctrl = [0, 0];

  step(): void {
    for (let j = 0; j < 2; j++) {
      const damping = 0.8 * (this.velocities[j] as number);
      const stiffness = 2.0 * (this.angles[j] as number);
      const acceleration = (this.ctrl[j] as number) - damping - stiffness;
      this.velocities[j] = (this.velocities[j] as number) + acceleration * this.dt;
      this.angles[j] = (this.angles[j] as number) + (this.velocities[j] as number) * this.dt;
    }
  }

  endEffector(): [number, number, number] {
    const [q1, q2] = this.angles as [number, number];
    const [l1, l2] = this.links as [number, number];
    return [l1 * Math.cos(q1) + l2 * Math.cos(q1 + q2), l1 * Math.sin(q1) + l2 * Math.sin(q1 + q2), this.baseHeight];
  }
}

async function main(): Promise<void> {
  const experiment = new Experiment("robotics/complete-tracking", { tags: ["two-link-arm", "tracking"] });
  await experiment.run(async (experiment) => {
    console.log("Starting robot tracking experiment");
    const arm = new TwoLinkArm();
    const steps = 1000;
    const recordInterval = 4;

    for (let i = 0; i < steps; i++) {
      const ctrl1 = 4.0 * Math.sin(i * 0.03);
      const ctrl2 = 2.5 * Math.sin(i * 0.05);
      arm.ctrl = [ctrl1, ctrl2];
      arm.step();

      if (i % recordInterval === 0) {
        const [x, y, z] = arm.endEffector();
        experiment.track("robot/position").append({ step: i, x, y, z });
        experiment.track("robot/control").append({ step: i, ctrl_1: ctrl1, ctrl_2: ctrl2 });
        if (i % 100 === 0) {
          console.log(`Step ${String(i).padStart(3)}: pos=(${x.toFixed(4)}, ${y.toFixed(4)}, ${z.toFixed(4)})`);
        }
      }
    }
    console.log("Tracking complete!");

    for (const topic of ["robot/position", "robot/control"]) {
      const { count, entries } = await experiment.track(topic).read();
      console.log(`  ${topic}: ${count} rows, fields ${Object.keys(entries[0] ?? {}).join(", ")}`);
    }
  });
  console.log(`Data written to ${experiment.dir} (status ${experiment.status}):`);
  console.log(`  ${experiment.dir}/tracks/robot_position/*.parquet`);
  console.log(`  ${experiment.dir}/tracks/robot_control/*.parquet`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
