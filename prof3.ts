import { Experiment } from "./src/index.js";
const N = 8_000_000;
(async () => {
  const e = await new Experiment("p/prof3", { dashRoot: "/tmp/prof-root3" }).start();
  const t = e.track("robot/position");
  for (let i = 0; i < N; i++) t.append({ step: i, x: i * 0.001, y: 0.5, z: 0.3 });
  await e.complete();
})();
