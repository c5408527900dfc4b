/**
 * Read-side scaling: a full read versus a 1% time-range read of one large track, and floor-match
 * lookups (`findByTime`) on a slice.
 *
 *   npm run bench:read             # 10,000,000 rows
 *   npm run bench:read -- --quick  # 1,000,000 rows
 *
 * Results go to benches/results/read.json.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import b from "benny";
import { Experiment } from "../src/index.js";

const quick = process.argv.includes("--quick");
const ROWS = quick ? 1_000_000 : 10_000_000;
const RATE = 1000; // rows per second of simulated time
const REPEATS = 3;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  return median(samples);
}

async function main(): Promise<void> {
  const machine = `${cpus().length} x ${cpus()[0]?.model ?? "cpu"}, Node ${process.version}`;
  const root = mkdtempSync(join(tmpdir(), "dash-read-bench-"));
  try {
    const experiment = await new Experiment("bench/read", { dashRoot: root }).start();
    const track = experiment.track("robot/position");
    for (let step = 0; step < ROWS; step++) {
      track.append({ step, x: Math.sin(step * 1e-3), y: Math.cos(step * 1e-3), z: 0.3 }, step / RATE);
    }
    await experiment.flush();
    const duration = ROWS / RATE;
    const onePercent = { start: duration * 0.42, end: duration * 0.43 - 1 / RATE };

    const fullMs = await timed(() => track.read());
    const rangeMs = await timed(() => track.read(onePercent));
    const rangeRows = (await track.read(onePercent)).count;
    const slice = await track.slice(onePercent.start, onePercent.end);
    let probe = 0;
    const lookups = await b.suite(
      `findByTime on a slice of ${slice.length.toLocaleString()} rows`,
      b.add("findByTime(t)", () => {
        probe = (probe + 7919) % slice.length;
        slice.findByTime(onePercent.start + probe / RATE + 0.0004);
      }),
      b.configure({ cases: { maxTime: quick ? 1 : 3 } }),
      b.cycle(),
      b.complete(),
    );
    const lookupsPerSecond = lookups.results[0]?.ops ?? 0;
    await experiment.complete();

    const results = {
      date: new Date().toISOString(),
      machine,
      rows: ROWS,
      fullReadMs: fullMs,
      onePercentRows: rangeRows,
      onePercentReadMs: rangeMs,
      rangeToFullRatio: rangeMs / fullMs,
      findByTimePerSecond: lookupsPerSecond,
    };
    console.log(`\n${ROWS.toLocaleString()} rows of { step, x, y, z }:`);
    console.log("| read | rows | median ms | share of the full read |");
    console.log("|---|---:|---:|---:|");
    console.log(`| full read() | ${ROWS.toLocaleString()} | ${fullMs.toFixed(0)} | 100% |`);
    console.log(`| 1% time range | ${rangeRows.toLocaleString()} | ${rangeMs.toFixed(1)} | ${((100 * rangeMs) / fullMs).toFixed(1)}% |`);
    console.log(`findByTime: ${Math.round(lookupsPerSecond).toLocaleString()} lookups/s`);
    writeFileSync(join(__dirname, "results", `read${quick ? "-quick" : ""}.json`), `${JSON.stringify(results, null, 2)}\n`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
