import { Experiment } from "./src/index.js";
const N = 4_000_000;
(async () => {
  for (const trackBatchSize of [100, 1000]) {
    const e = await new Experiment("p/prof" + trackBatchSize, { dashRoot: "/tmp/prof-root", trackBatchSize }).start();
    const t = e.track("robot/position");
    const t0 = performance.now();
    for (let i = 0; i < N; i++) t.append({ step: i, x: i * 0.001, y: 0.5, z: 0.3 });
    const t1 = performance.now();
    await e.complete();
    const t2 = performance.now();
    console.log(trackBatchSize, "append ns", ((t1 - t0) * 1e6) / N, "drain ms", t2 - t1, "total Mops", N / (t2 - t0) / 1000);
  }
})();
