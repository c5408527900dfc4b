/**
 * Append throughput of the seed's basic example, `append({ step, x, y, z })` with automatic
 * timestamps, for dash-ingest and its peers on identical data in one run.
 *
 *   npm run bench             # full
 *   npm run bench -- --quick  # under a minute
 *
 * Two measurements per writer:
 *  - steady state (benny): appends/s while recording, one benny op = 10,000 appends;
 *  - end to end: N appends from the first call until the data is durable (complete() / fsync),
 *    with bytes on disk per entry.
 * Results go to benches/results/append.json.
 */
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import b from "benny";
import { Experiment } from "../src/index.js";
import { jsonLinesWriter, msgpackrWriter, type EntryWriter } from "./peers.js";

const quick = process.argv.includes("--quick");
const OP_ENTRIES = 10_000;
const END_TO_END_ENTRIES = quick ? 300_000 : 2_000_000;

/** Identical sensor-like data for every writer. */
function entry(step: number): { step: number; x: number; y: number; z: number } {
  return { step, x: Math.sin(step * 0.001), y: Math.cos(step * 0.001), z: 0.3 + step * 1e-6 };
}

function duSync(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, name) => sum + duSync(join(path, name)), 0);
}

interface Contender {
  name: string;
  open(dir: string): Promise<EntryWriter>;
}

const contenders: Contender[] = [
  {
    name: "dash-ingest",
    async open(dir) {
      const experiment = await new Experiment("bench/basic", { dashRoot: dir }).start();
      const track = experiment.track("robot/position");
      return { append: (e) => void track.append(e), close: () => experiment.complete() };
    },
  },
  { name: "JSON lines + fs", open: async (dir) => jsonLinesWriter(join(dir, "data.jsonl")) },
  { name: "msgpackr + fs", open: async (dir) => msgpackrWriter(join(dir, "data.msgpack")) },
];

interface EndToEnd {
  name: string;
  entriesPerSecond: number;
  bytesPerEntry: number;
}

async function endToEnd(contender: Contender): Promise<EndToEnd> {
  const dir = mkdtempSync(join(tmpdir(), "dash-bench-"));
  try {
    const start = performance.now();
    const writer = await contender.open(dir);
    for (let step = 0; step < END_TO_END_ENTRIES; step++) writer.append(entry(step));
    await writer.close();
    const seconds = (performance.now() - start) / 1000;
    return {
      name: contender.name,
      entriesPerSecond: END_TO_END_ENTRIES / seconds,
      bytesPerEntry: duSync(dir) / END_TO_END_ENTRIES,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function steadyState(): Promise<Record<string, number>> {
  const dirs: string[] = [];
  const writers: EntryWriter[] = [];
  const summary = await b.suite(
    `append({ step, x, y, z }) x ${OP_ENTRIES} per op`,
    ...contenders.map((contender) =>
      b.add(contender.name, async () => {
        const dir = mkdtempSync(join(tmpdir(), "dash-bench-"));
        const writer = await contender.open(dir);
        dirs.push(dir);
        writers.push(writer);
        let step = 0;
        return () => {
          for (let i = 0; i < OP_ENTRIES; i++) writer.append(entry(step++));
        };
      }),
    ),
    b.configure({ cases: { maxTime: quick ? 1 : 5, minSamples: 5 } }),
    b.cycle(),
    b.complete(),
  );
  for (const writer of writers) await writer.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  return Object.fromEntries(summary.results.map((r) => [r.name, r.ops * OP_ENTRIES]));
}

async function main(): Promise<void> {
  const machine = `${cpus().length} x ${cpus()[0]?.model ?? "cpu"}, Node ${process.version}`;
  console.log(`machine: ${machine}${quick ? " (quick mode)" : ""}\n`);
  const steady = await steadyState();
  const results: (EndToEnd & { steadyEntriesPerSecond: number })[] = [];
  for (const contender of contenders) {
    results.push({ ...(await endToEnd(contender)), steadyEntriesPerSecond: steady[contender.name] ?? 0 });
  }
  const fastestPeer = Math.max(...results.filter((r) => r.name !== "dash-ingest").map((r) => r.entriesPerSecond));
  console.log(`\nend to end, ${END_TO_END_ENTRIES.toLocaleString()} entries, first append to durable:`);
  console.log("| writer | steady appends/s | end-to-end entries/s | vs fastest peer | bytes/entry |");
  console.log("|---|---:|---:|---:|---:|");
  for (const r of results) {
    const ratio = (r.entriesPerSecond / fastestPeer).toFixed(2);
    console.log(
      `| ${r.name} | ${Math.round(r.steadyEntriesPerSecond).toLocaleString()} | ${Math.round(r.entriesPerSecond).toLocaleString()} | ${ratio}x | ${r.bytesPerEntry.toFixed(1)} |`,
    );
  }
  writeFileSync(
    join(__dirname, "results", `append${quick ? "-quick" : ""}.json`),
    `${JSON.stringify({ date: new Date().toISOString(), machine, entries: END_TO_END_ENTRIES, results }, null, 2)}\n`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
