/**
 * Remote mode (`dashUrl`), in one run beside local mode and the Python SDK's remote mode, all to a
 * `dash-ingest serve` child process over loopback (the basic scenario's entries,
 * `{step, x, y, z}` with explicit timestamps):
 *
 * - append rate: entries / seconds of the append loop alone, local mode vs remote mode (the
 *   uploader's thread sends while the loop runs);
 * - first append → on the server: until `complete()` resolved (everything uploaded, status set);
 * - upload alone: a spool written first, then sent by `dash-ingest push` (in-process), entries/s
 *   and the server's CPU per entry;
 * - the Python SDK in remote mode (`dash_url`, no local copy): first append → closed.
 *
 *   npm run bench:remote [-- --quick]     (also part of npm run bench)
 *
 * Writes benches/results/remote.json (remote-quick.json) and prints a markdown table.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Experiment } from "../src/index.js";
import { push } from "../src/remote/push.js";
import { cpuSeconds, startServer } from "./serve.bench.js";

const python = process.env.DASH_INGEST_PYTHON ?? join(__dirname, "..", ".venv-mldash", "bin", "python");

export interface RemoteResult {
  writer: string;
  entries: number;
  /** Entries per second of the append loop alone (`null` where not separable). */
  appendPerSecond: number | null;
  /** Entries per second from the first append to everything durable (local) or on the server. */
  endToEndPerSecond: number;
  serverCpuNsPerEntry: number | null;
}

function append(experiment: Experiment, entries: number): number {
  const track = experiment.track("robot/position");
  const start = performance.now();
  for (let i = 0; i < entries; i++) {
    track.append({ step: i, x: Math.sin(i * 0.01), y: Math.cos(i * 0.01), z: i * 0.5 }, { timestamp: i * 0.001 });
  }
  return (performance.now() - start) / 1000;
}

async function local(entries: number): Promise<RemoteResult> {
  const root = mkdtempSync(join(tmpdir(), "dash-remote-bench-"));
  const start = performance.now();
  const experiment = await new Experiment("bench/remote/local", { dashRoot: root }).start();
  const loop = append(experiment, entries);
  await experiment.complete();
  const seconds = (performance.now() - start) / 1000;
  rmSync(root, { recursive: true, force: true });
  return {
    writer: "local mode",
    entries,
    appendPerSecond: entries / loop,
    endToEndPerSecond: entries / seconds,
    serverCpuNsPerEntry: null,
  };
}

async function remote(entries: number): Promise<RemoteResult> {
  const root = mkdtempSync(join(tmpdir(), "dash-remote-bench-"));
  const server = await startServer(join(root, "served"));
  const cpuBefore = cpuSeconds(server.pid);
  const start = performance.now();
  const experiment = await new Experiment("bench/remote/run", {
    dashRoot: join(root, "spool"),
    dashUrl: server.url,
    token: "bench",
  }).start();
  const loop = append(experiment, entries);
  await experiment.complete();
  const seconds = (performance.now() - start) / 1000;
  const cpu = cpuSeconds(server.pid) - cpuBefore;
  await server.stop();
  rmSync(root, { recursive: true, force: true });
  return {
    writer: "remote mode (dashUrl → serve)",
    entries,
    appendPerSecond: entries / loop,
    endToEndPerSecond: entries / seconds,
    serverCpuNsPerEntry: (cpu * 1e9) / entries,
  };
}

async function uploadOnly(entries: number): Promise<RemoteResult> {
  const root = mkdtempSync(join(tmpdir(), "dash-remote-bench-"));
  const spool = join(root, "spool");
  const experiment = await new Experiment("bench/remote/pushed", { dashRoot: spool }).start();
  append(experiment, entries);
  await experiment.complete();
  const server = await startServer(join(root, "served"));
  const cpuBefore = cpuSeconds(server.pid);
  const start = performance.now();
  await push("bench/remote/pushed", { dashRoot: spool, url: server.url, token: "bench", timeoutSeconds: 600 });
  const seconds = (performance.now() - start) / 1000;
  const cpu = cpuSeconds(server.pid) - cpuBefore;
  await server.stop();
  rmSync(root, { recursive: true, force: true });
  return {
    writer: "upload alone (dash-ingest push → serve)",
    entries,
    appendPerSecond: null,
    endToEndPerSecond: entries / seconds,
    serverCpuNsPerEntry: (cpu * 1e9) / entries,
  };
}

const SDK_SCRIPT = `
import sys, time
from ml_dash import Experiment
url, n = sys.argv[1], int(sys.argv[2])
start = time.perf_counter()
with Experiment(prefix="bench/remote/sdk", dash_url=url, dash_root=None).run as e:
    track = e.tracks("robot/position")
    for i in range(n):
        track.append(step=i, x=i * 0.5, y=0.2, z=0.3, _ts=i * 0.001)
print(time.perf_counter() - start)
`;

async function pythonSdk(entries: number): Promise<RemoteResult | undefined> {
  try {
    execFileSync(python, ["-c", "import ml_dash"], { stdio: "ignore" });
  } catch {
    console.warn("bench:remote: no .venv-mldash (npm run setup:python); the Python SDK row is skipped");
    return undefined;
  }
  const root = mkdtempSync(join(tmpdir(), "dash-remote-bench-sdk-"));
  mkdirSync(join(root, "config"));
  writeFileSync(join(root, "config", "tokens.json"), JSON.stringify({ "ml-dash-token": "bench" }));
  writeFileSync(join(root, "run.py"), SDK_SCRIPT);
  const server = await startServer(join(root, "served"));
  const cpuBefore = cpuSeconds(server.pid);
  const env = { ...process.env, ML_DASH_CONFIG_DIR: join(root, "config"), ML_DASH_NO_VERSION_CHECK: "1" };
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(python, [join(root, "run.py"), server.url, String(entries)], {
      cwd: root,
      env,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.once("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`SDK exited with ${code}`))));
  });
  const cpu = cpuSeconds(server.pid) - cpuBefore;
  await server.stop();
  rmSync(root, { recursive: true, force: true });
  return {
    writer: "Python ml-dash SDK 0.11, remote mode (dash_url → serve)",
    entries,
    appendPerSecond: null,
    endToEndPerSecond: entries / Number(output.trim().split("\n").pop()),
    serverCpuNsPerEntry: (cpu * 1e9) / entries,
  };
}

const fmt = (n: number | null) => (n === null ? "n/a" : Math.round(n).toLocaleString("en-US"));

/** Runs every measurement; prints the table and returns the results. */
export async function runRemote(quick: boolean): Promise<RemoteResult[]> {
  const entries = quick ? 200_000 : 2_000_000;
  const results = [await local(entries), await remote(entries), await uploadOnly(entries)];
  const sdk = await pythonSdk(quick ? 5_000 : 50_000);
  if (sdk !== undefined) results.push(sdk);
  const [ours, remoteRun] = results as [RemoteResult, RemoteResult];
  const lines = [
    "### remote mode: the basic scenario to `dash-ingest serve` over loopback",
    "",
    "| writer | entries | append loop, entries/s | first append → durable / on the server, entries/s | server CPU ns/entry |",
    "|---|---:|---:|---:|---:|",
    ...results.map(
      (r) =>
        `| ${r.writer} | ${fmt(r.entries)} | ${fmt(r.appendPerSecond)} | ${fmt(r.endToEndPerSecond)} | ${fmt(r.serverCpuNsPerEntry)} |`,
    ),
    "",
    `remote append rate / local append rate: **${((remoteRun.appendPerSecond ?? 0) / (ours.appendPerSecond ?? 1)).toFixed(2)}×** (target 1, floor 0.5)`,
    ...(sdk === undefined
      ? []
      : [`remote end to end vs the Python SDK's remote mode: **${(remoteRun.endToEndPerSecond / sdk.endToEndPerSecond).toFixed(0)}×**`]),
    "",
  ];
  console.log(lines.join("\n"));
  return results;
}

if (require.main === module) {
  const quick = process.argv.includes("--quick");
  runRemote(quick).then(
    (results) => {
      const out = join(__dirname, "results", quick ? "remote-quick.json" : "remote.json");
      writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), results }, null, 2)}\n`);
      console.log(`written to ${out}`);
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
