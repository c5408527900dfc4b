/**
 * The benchmark suite: every scenario through dash-ingest and its peers on identical work, one
 * fresh process per measurement (so peak RSS is the writer's own), plus the Python ml-dash SDK on
 * the same scenarios, then benny's in-process steady-state suite for the basic scenario, then
 * remote mode beside local mode and the Python SDK's remote mode (benches/remote.bench.ts).
 *
 *   npm run bench             # full
 *   npm run bench -- --quick  # under a minute
 *
 * Writes benches/results/suite.json (or suite-quick.json) and prints markdown tables.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { runSteadyState } from "./append.bench.js";
import { runRemote } from "./remote.bench.js";
import { contenders } from "./peers.js";
import { scenarios } from "./scenarios.js";

const quick = process.argv.includes("--quick");
const STEPS = quick ? 40_000 : 1_000_000;
const LATENCY_STEPS = quick ? 20_000 : 100_000;
const PYTHON_STEPS = quick ? 1_000 : 20_000;
const tsx = join(__dirname, "..", "node_modules", ".bin", "tsx");
const python = process.env.DASH_INGEST_PYTHON ?? join(__dirname, "..", ".venv-mldash", "bin", "python");

interface Result {
  scenario: string;
  contender: string;
  entries: number;
  seconds: number;
  entriesPerSecond: number;
  bytesPerRow: number;
  peakRssMiB: number | null;
  latencyNs: { p50: number; p99: number; p999: number } | null;
  /** CPU per entry: the JS thread's and all other threads' of the process (Node writers only). */
  cpuNsPerEntry?: { js: number; others: number };
}

/**
 * Writes back what earlier measurements left in the page cache, so its writeback (gigabytes, from
 * the slow peers) does not land on the next writer's time or fsyncs.
 */
function quietDisk(): void {
  execFileSync("sync");
}

function measure(scenario: string, contender: string): Result {
  quietDisk();
  const output = execFileSync(tsx, [join(__dirname, "run-one.ts"), scenario, contender, String(STEPS), String(LATENCY_STEPS)], {
    encoding: "utf8",
    maxBuffer: 1 << 20,
  });
  return JSON.parse(output.trim().split("\n").pop() as string) as Result;
}

function measurePython(scenario: string): Result | undefined {
  if (!existsSync(python)) return undefined;
  quietDisk();
  const root = mkdtempSync(join(tmpdir(), "dash-bench-py-"));
  try {
    const output = execFileSync(python, [join(__dirname, "python", "mldash_peer.py"), scenario, String(PYTHON_STEPS), root], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    const { entries, rows, seconds, bytes } = JSON.parse(output.trim().split("\n").pop() as string) as Record<string, number>;
    return {
      scenario,
      contender: "Python ml-dash SDK 0.11 (child process)",
      entries: entries as number,
      seconds: seconds as number,
      entriesPerSecond: (entries as number) / (seconds as number),
      bytesPerRow: (bytes as number) / (rows as number),
      peakRssMiB: null,
      latencyNs: null,
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

async function main(): Promise<void> {
  const machine = `${cpus().length} x ${cpus()[0]?.model ?? "cpu"}, Node ${process.version}`;
  console.log(`machine: ${machine}; ${STEPS.toLocaleString()} steps per scenario${quick ? " (quick mode)" : ""}\n`);
  const results: Result[] = [];
  const tables: string[] = [];
  for (const scenario of scenarios) {
    const rows: Result[] = [];
    for (const contender of contenders.filter((c) => c.supports(scenario))) rows.push(measure(scenario.name, contender.name));
    const py = measurePython(scenario.name);
    if (py !== undefined) rows.push(py);
    results.push(...rows);
    const ours = rows.find((r) => r.contender === "dash-ingest") as Result;
    const fastestPeer = Math.max(...rows.filter((r) => !r.contender.startsWith("dash-ingest")).map((r) => r.entriesPerSecond));
    const lines = [
      `### ${scenario.name}: ${scenario.description}`,
      "",
      "| writer | entries/s (first append → durable) | vs fastest peer | bytes/row on disk | peak RSS MiB | append p50 / p99 / p99.9 ns | CPU ns/entry: JS thread / other threads |",
      "|---|---:|---:|---:|---:|---:|---:|",
      ...rows.map((r) => {
        const ratio =
          r === ours
            ? `**${(r.entriesPerSecond / fastestPeer).toFixed(2)}×**`
            : `${(r.entriesPerSecond / ours.entriesPerSecond).toFixed(2)}× ours`;
        const latency = r.latencyNs ? `${fmt(r.latencyNs.p50)} / ${fmt(r.latencyNs.p99)} / ${fmt(r.latencyNs.p999)}` : "n/a";
        const rss = r.peakRssMiB === null ? "n/a" : r.peakRssMiB.toFixed(0);
        const cpu = r.cpuNsPerEntry;
        const threads = cpu ? `${fmt(cpu.js)} / ${fmt(cpu.others)}` : "n/a";
        return `| ${r.contender} | ${fmt(r.entriesPerSecond)} | ${ratio} | ${r.bytesPerRow.toFixed(1)} | ${rss} | ${latency} | ${threads} |`;
      }),
      "",
    ];
    tables.push(lines.join("\n"));
    console.log(lines.join("\n"));
  }
  const steady = await runSteadyState(quick);
  const remote = await runRemote(quick);
  writeFileSync(
    join(__dirname, "results", `suite${quick ? "-quick" : ""}.json`),
    `${JSON.stringify({ date: new Date().toISOString(), machine, steps: STEPS, pythonSteps: PYTHON_STEPS, results, steady, remote }, null, 2)}\n`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
