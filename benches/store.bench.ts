/**
 * Experiments on an S3-compatible object store, in one run beside a local root, against SeaweedFS
 * on loopback (`scripts/seaweedfs.sh` builds it):
 *
 * - append rate: `{step, x, y, z}` entries with explicit timestamps, entries / seconds of the
 *   append loop and the flush that makes them durable, local root vs `s3://` root (publishing
 *   runs on its own thread, off the append path); rounds alternate between the two;
 * - publish throughput: `Float32Array(64)` states written into the spool first (the store out of
 *   the picture), then the MB/s of a writer on the `s3://` root publishing that backlog, from
 *   `start()` to `complete()`;
 * - a cross-experiment query: pyarrow's dataset over the segments of 100 experiments of one project
 *   (found through their manifests), read in place with `S3FileSystem`: one aggregate per run.
 *
 *   npm run bench:store [-- --quick]
 *
 * Writes benches/results/store.json (store-quick.json) and prints a markdown table.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Experiment } from "../src/index.js";
import { ACCESS_KEY, SECRET_KEY, startStore } from "../__test__/object-store.js";

const python = process.env.DASH_INGEST_PYTHON ?? join(__dirname, "..", ".venv-mldash", "bin", "python");
const quick = process.argv.includes("--quick");
const ENTRIES = quick ? 200_000 : 2_000_000;
const ROUNDS = quick ? 1 : 3;
const STATES = quick ? 50_000 : 2_000_000;
const EXPERIMENTS = quick ? 20 : 100;
const ROWS_PER_EXPERIMENT = 10_000;

function scratch(): string {
  return mkdtempSync(join(tmpdir(), "dash-store-bench-"));
}

/** Seconds of the append loop plus the flush that makes it durable (in the local spool for a store). */
async function appendRate(dashRoot: string, spoolRoot: string | undefined, prefix: string): Promise<number> {
  const experiment = await new Experiment(prefix, { dashRoot, ...(spoolRoot === undefined ? {} : { spoolRoot }) }).start();
  const track = experiment.track("robot/position");
  const start = performance.now();
  for (let i = 0; i < ENTRIES; i++) {
    track.append({ step: i, x: Math.sin(i * 0.01), y: Math.cos(i * 0.01), z: i * 0.5 }, { timestamp: i * 0.001 });
  }
  await experiment.flush();
  const seconds = (performance.now() - start) / 1000;
  await experiment.complete();
  return ENTRIES / seconds;
}

/**
 * A backlog published: the experiment is written first into the spool directory with the store
 * out of the picture (a local root at the spool's path), then started on the `s3://` root, which
 * publishes the whole spool; seconds from that start to `complete()` resolved.
 */
async function publishRate(bucket: string): Promise<{ megabytesPerSecond: number; bytes: number; seconds: number }> {
  const spoolRoot = scratch();
  const prefix = "bench/store/states";
  const offline = await new Experiment(prefix, { dashRoot: join(spoolRoot, bucket, "publish") }).start();
  const track = offline.track("rl/state");
  const state = new Float32Array(64);
  for (let i = 0; i < STATES; i++) {
    for (let k = 0; k < 64; k++) state[k] = Math.sin(i * 0.001 + k);
    track.append({ step: i, state }, { timestamp: i * 0.01 });
  }
  await offline.complete();
  const start = performance.now();
  const experiment = await new Experiment(prefix, { dashRoot: `s3://${bucket}/publish`, spoolRoot }).start();
  await experiment.complete();
  const seconds = (performance.now() - start) / 1000;
  const bytes = experiment.stats().publish?.bytesPublished ?? 0;
  return { megabytesPerSecond: bytes / 1e6 / seconds, bytes, seconds };
}

async function main(): Promise<void> {
  const store = await startStore();
  Object.assign(process.env, store.env);
  try {
    await store.createBucket("bench");
    const local: number[] = [];
    const remote: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const root = scratch();
      local.push(await appendRate(root, undefined, `bench/local/r${round}`));
      rmSync(root, { recursive: true, force: true });
      remote.push(await appendRate("s3://bench/append", scratch(), `bench/store/r${round}`));
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
    const published = await publishRate("bench");

    const project = "s3://bench/lab";
    const spoolRoot = scratch();
    for (let run = 0; run < EXPERIMENTS; run++) {
      const experiment = await new Experiment(`alice/robotics/run-${run}`, { dashRoot: project, spoolRoot }).start();
      const track = experiment.track("robot/position");
      for (let i = 0; i < ROWS_PER_EXPERIMENT; i++)
        track.append({ step: i, x: Math.sin(i + run), reward: run + i / ROWS_PER_EXPERIMENT }, { timestamp: i });
      await experiment.complete();
    }
    const query = `
import json, sys, time, pyarrow.dataset as ds, pyarrow.fs as fs, pyarrow.compute as pc
s3 = fs.S3FileSystem(endpoint_override=sys.argv[1], access_key=sys.argv[2], secret_key=sys.argv[3], scheme="http", region="us-east-1")
start = time.perf_counter()
files = []
for info in s3.get_file_info(fs.FileSelector("bench/lab/alice/robotics", recursive=True)):
    if info.path.endswith("/tracks/robot_position/metadata.json"):
        track = info.path.rsplit("/", 1)[0]
        files += [track + "/" + s["file"] for s in json.loads(s3.open_input_file(info.path).read())["segments"]]
table = ds.dataset(files, format="parquet", filesystem=s3).to_table(columns=["reward"])
print(json.dumps({"seconds": time.perf_counter() - start, "files": len(files), "rows": table.num_rows, "mean": pc.mean(table["reward"]).as_py()}))
`;
    const answer = JSON.parse(
      execFileSync(python, ["-c", query, store.endpoint.replace("http://", ""), ACCESS_KEY, SECRET_KEY], {
        encoding: "utf8",
      }),
    ) as { seconds: number; files: number; rows: number };
    if (answer.rows !== EXPERIMENTS * ROWS_PER_EXPERIMENT) throw new Error(`the query read ${answer.rows} rows`);

    const result = {
      entries: ENTRIES,
      rounds: ROUNDS,
      appendPerSecond: { local: median(local), store: median(remote), localRuns: local, storeRuns: remote },
      publish: published,
      crossExperimentQuery: { experiments: EXPERIMENTS, rowsPerExperiment: ROWS_PER_EXPERIMENT, ...answer },
    };
    const dir = join(__dirname, "results");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, quick ? "store-quick.json" : "store.json"), `${JSON.stringify(result, null, 2)}\n`);
    const m = (x: number) => `${(x / 1e6).toFixed(2)} M/s`;
    console.log(`| measure | local root | s3:// root | ratio |`);
    console.log(`|---|---|---|---|`);
    console.log(
      `| append + flush, ${ENTRIES.toLocaleString("en")} entries (median of ${ROUNDS}) | ${m(result.appendPerSecond.local)} | ${m(result.appendPerSecond.store)} | ${(result.appendPerSecond.store / result.appendPerSecond.local).toFixed(2)} |`,
    );
    console.log(
      `| publishing a spool of ${STATES.toLocaleString("en")} Float32Array(64) states, start() to complete() | | ${published.megabytesPerSecond.toFixed(1)} MB/s (${(published.bytes / 1e6).toFixed(1)} MB in ${published.seconds.toFixed(2)} s) | |`,
    );
    console.log(
      `| pyarrow dataset over ${EXPERIMENTS} experiments (${answer.files} segments, ${answer.rows.toLocaleString("en")} rows) | | ${answer.seconds.toFixed(2)} s | |`,
    );
  } finally {
    await store.stop();
  }
}

void main();
