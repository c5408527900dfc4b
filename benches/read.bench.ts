/**
 * Read-side scaling: a full read (rows and columns) versus a 1% time-range read of one large
 * track, floor-match lookups (`findByTime`) on a slice, and the same segments read by peers in the
 * same run: DuckDB (columns and row objects) and pyarrow's `read_table` (from `.venv-mldash`, if
 * it has pyarrow: `.venv-mldash/bin/pip install pyarrow`).
 *
 *   npm run bench:read             # 10,000,000 rows
 *   npm run bench:read -- --quick  # 1,000,000 rows
 *
 * Results go to benches/results/read.json.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import b from "benny";
import { Experiment } from "../src/index.js";
import { startViewer } from "../src/viewer.js";

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

const PYTHON = join(__dirname, "..", ".venv-mldash", "bin", "python");

/** pyarrow's `read_table` over `files` (median of REPEATS, in ms, timed inside Python), if it is there. */
function pyarrowMs(files: string[]): number | undefined {
  if (!existsSync(PYTHON)) return undefined;
  const script = `
import json, sys, time
try:
    import pyarrow.parquet as pq
except ImportError:
    print("null"); sys.exit()
files = json.loads(sys.argv[1])
samples = []
for _ in range(${REPEATS}):
    start = time.perf_counter()
    table = pq.read_table(files)
    samples.append((time.perf_counter() - start) * 1000)
print(sorted(samples)[len(samples) // 2])`;
  const out = execFileSync(PYTHON, ["-c", script, JSON.stringify(files)], { encoding: "utf8" }).trim();
  return out === "null" ? undefined : Number(out);
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
    const columnsMs = await timed(() => track.read({ format: "columns" }));
    const arrowIpcMs = await timed(() => track.read({ format: "arrow" }));
    const dir = join(experiment.dir as string, "tracks", "robot_position");
    const segments = readdirSync(dir)
      .filter((f) => f.endsWith(".parquet"))
      .map((f) => join(dir, f));
    const source = `read_parquet([${segments.map((f) => `'${f}'`).join(", ")}])`;
    const duck = await (await DuckDBInstance.create(":memory:")).connect();
    const duckColumnsMs = await timed(async () => (await duck.runAndReadAll(`SELECT * FROM ${source}`)).getColumnsJS());
    const duckRowsMs = await timed(async () => (await duck.runAndReadAll(`SELECT * FROM ${source}`)).getRowObjectsJS());
    const arrowMs = pyarrowMs(segments);
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

    // The viewer's first render: what one 1,200-pixel chart fetches, for this track and a small one.
    const small = await new Experiment("bench/read-small", { dashRoot: root }).start();
    for (let step = 0; step < 10_000; step++) {
      small.track("robot/position").append({ step, x: Math.sin(step * 1e-3), y: Math.cos(step * 1e-3), z: 0.3 }, step / RATE);
    }
    await small.complete();
    const chart = async (prefix: string) => {
      const viewer = await startViewer(prefix, root);
      try {
        let bytes = 0;
        const ms = await timed(async () => {
          bytes = (await (await fetch(`${viewer.url}api/track?topic=robot%2Fposition&width=1200`)).arrayBuffer()).byteLength;
        });
        return { ms, bytes };
      } finally {
        await viewer.close();
      }
    };
    const firstRenderLarge = await chart("bench/read");
    const firstRenderSmall = await chart("bench/read-small");

    const results = {
      date: new Date().toISOString(),
      machine,
      rows: ROWS,
      fullReadMs: fullMs,
      columnsReadMs: columnsMs,
      arrowReadMs: arrowIpcMs,
      duckdbColumnsMs: duckColumnsMs,
      duckdbRowObjectsMs: duckRowsMs,
      pyarrowReadTableMs: arrowMs ?? null,
      onePercentRows: rangeRows,
      onePercentReadMs: rangeMs,
      rangeToFullRatio: rangeMs / fullMs,
      findByTimePerSecond: lookupsPerSecond,
      viewerFirstFetch: { large: firstRenderLarge, small: firstRenderSmall },
    };
    console.log(`\n${ROWS.toLocaleString()} rows of { step, x, y, z }:`);
    console.log("| read | rows | median ms | share of the full read |");
    console.log("|---|---:|---:|---:|");
    console.log(`| full read() | ${ROWS.toLocaleString()} | ${fullMs.toFixed(0)} | 100% |`);
    console.log(
      `| full read({ format: "columns" }) | ${ROWS.toLocaleString()} | ${columnsMs.toFixed(0)} | ${((100 * columnsMs) / fullMs).toFixed(1)}% |`,
    );
    console.log(`| 1% time range | ${rangeRows.toLocaleString()} | ${rangeMs.toFixed(1)} | ${((100 * rangeMs) / fullMs).toFixed(1)}% |`);
    console.log(`findByTime: ${Math.round(lookupsPerSecond).toLocaleString()} lookups/s`);
    console.log(`\nViewer, one 1,200-pixel chart's first fetch (median ms, bytes):`);
    console.log("| track | rows | median ms | bytes |");
    console.log("|---|---:|---:|---:|");
    console.log(`| small | 10,000 | ${firstRenderSmall.ms.toFixed(0)} | ${firstRenderSmall.bytes.toLocaleString()} |`);
    console.log(`| large | ${ROWS.toLocaleString()} | ${firstRenderLarge.ms.toFixed(0)} | ${firstRenderLarge.bytes.toLocaleString()} |`);
    const rate = (ms: number) => `${((ROWS / ms) * 1e-3).toFixed(1)} M rows/s`;
    console.log("\nThe same segments, same run (full read, median ms):");
    console.log("| reader | median ms | rate | columns read vs it |");
    console.log("|---|---:|---:|---:|");
    const peers: [string, number | undefined][] = [
      ['dash-ingest read({ format: "columns" })', columnsMs],
      ['dash-ingest read({ format: "arrow" }) (an IPC stream)', arrowIpcMs],
      ["dash-ingest read() (row objects)", fullMs],
      ["DuckDB (node-api), columns", duckColumnsMs],
      ["DuckDB (node-api), row objects", duckRowsMs],
      ["pyarrow read_table", arrowMs],
    ];
    for (const [name, ms] of peers) {
      if (ms === undefined) console.log(`| ${name} | not installed | | |`);
      else console.log(`| ${name} | ${ms.toFixed(0)} | ${rate(ms)} | ${(ms / columnsMs).toFixed(2)}× |`);
    }
    writeFileSync(join(__dirname, "results", `read${quick ? "-quick" : ""}.json`), `${JSON.stringify(results, null, 2)}\n`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
