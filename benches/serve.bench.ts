/**
 * `npm run bench:serve [-- --quick]`: track entries per second into `dash-ingest serve` over
 * loopback, in one run beside the same entries appended in-process and the Python SDK:
 *
 * - `serve, N clients`: N concurrent keep-alive HTTP clients (a Node load generator), each sending
 *   1000-entry `append_batch` bodies of the basic scenario (`{timestamp, step, x, y, z}`) to its own
 *   experiment, every request acknowledged (durable) before the client sends its next; entries/s
 *   from the first request to the last answer, and the server process's CPU per entry (from
 *   /proc/<pid>/stat).
 * - `Python SDK → serve`: real SDK processes (remote mode) appending the same entries, one
 *   experiment each, from their first append to their close.
 * - `in-process append`: the same entries through `track.append` in this process, to durable.
 * - `Python SDK local mode`: the SDK writing `.dash/` itself, no server.
 *
 * Writes benches/results/serve.json (serve-quick.json with --quick) and prints a markdown table.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Experiment } from "../src/index.js";

const quick = process.argv.includes("--quick");
const ENTRIES_PER_CLIENT = quick ? 100_000 : 500_000;
const BATCH = 1000;
const CLIENTS = [1, 4];
const SDK_ENTRIES = quick ? 5_000 : 20_000;
const SDK_PROCESSES = 4;
const python = join(__dirname, "..", ".venv-mldash", "bin", "python");
const ticks = 100; // USER_HZ on Linux

interface Result {
  writer: string;
  entries: number;
  seconds: number;
  entriesPerSecond: number;
  serverCpuNsPerEntry: number | null;
}

/** CPU seconds (user + system) process `pid` has used. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / ticks; // utime + stime
}

/** `dash-ingest serve` in a child process (no token: loopback), from the built package. */
export async function startServer(dashRoot: string): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [join(__dirname, "..", "dist", "cli.js"), "serve", "--port", "0", "--dash-root", dashRoot], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const found = /http:\/\/[^\s]+/.exec(out)?.[0];
      if (found) resolve(found);
    });
    child.once("exit", (code) => reject(new Error(`serve exited with ${code}`)));
  });
  return {
    url,
    pid: child.pid as number,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

function post(agent: Agent, url: string, path: string, body: string | Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method: "POST", agent, headers: { "content-type": "application/json" } }, (res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => {
        text += chunk.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

function body(first: number): Buffer {
  const entries = [];
  for (let i = first; i < first + BATCH; i++) {
    entries.push({ timestamp: i * 0.001, step: i, x: Math.sin(i * 0.01), y: Math.cos(i * 0.01), z: i * 0.5 });
  }
  return Buffer.from(JSON.stringify({ entries }));
}

async function serveRun(clients: number): Promise<Result> {
  const root = mkdtempSync(join(tmpdir(), "dash-serve-bench-"));
  const server = await startServer(root);
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  // Bodies are made before the clock starts: the load generator's JSON is not the server's cost.
  const bodies = Array.from({ length: ENTRIES_PER_CLIENT / BATCH }, (_, k) => body(k * BATCH));
  const ids: string[] = [];
  for (let c = 0; c < clients; c++) {
    const created = await post(
      agent,
      server.url,
      "/api/namespaces/bench/nodes",
      JSON.stringify({ type: "EXPERIMENT", name: `run-${c}`, projectSlug: "serve" }),
    );
    ids.push(JSON.parse(created.text).experiment.id);
  }
  const cpuBefore = cpuSeconds(server.pid);
  const start = performance.now();
  await Promise.all(
    ids.map(async (id) => {
      for (const payload of bodies) {
        const answer = await post(agent, server.url, `/api/experiments/${id}/tracks/robot%2Fposition/append_batch`, payload);
        if (answer.status !== 201) throw new Error(`append_batch answered ${answer.status}: ${answer.text}`);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const cpu = cpuSeconds(server.pid) - cpuBefore;
  agent.destroy();
  await server.stop();
  rmSync(root, { recursive: true, force: true });
  const entries = clients * ENTRIES_PER_CLIENT;
  return {
    writer: `serve, ${clients} client(s)`,
    entries,
    seconds,
    entriesPerSecond: entries / seconds,
    serverCpuNsPerEntry: (cpu * 1e9) / entries,
  };
}

function sdkScript(remote: boolean): string {
  return `
import sys, time
from ml_dash import Experiment
url, prefix, n, root = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
kwargs = dict(dash_url=url, dash_root=None) if ${remote ? "True" : "False"} else dict(dash_root=root)
start = time.perf_counter()
with Experiment(prefix=prefix, **kwargs).run as e:
    track = e.tracks("robot/position")
    for i in range(n):
        track.append(step=i, x=i * 0.5, y=0.2, z=0.3, _ts=i * 0.001)
print(time.perf_counter() - start)
`;
}

async function sdkRun(remote: boolean): Promise<Result> {
  const root = mkdtempSync(join(tmpdir(), "dash-serve-bench-sdk-"));
  mkdirSync(join(root, "config"));
  writeFileSync(join(root, "config", "tokens.json"), JSON.stringify({ "ml-dash-token": "bench" }));
  writeFileSync(join(root, "run.py"), sdkScript(remote));
  const server = remote ? await startServer(join(root, "served")) : undefined;
  const env = { ...process.env, ML_DASH_CONFIG_DIR: join(root, "config"), ML_DASH_NO_VERSION_CHECK: "1" };
  const cpuBefore = server ? cpuSeconds(server.pid) : 0;
  const start = performance.now();
  await Promise.all(
    Array.from(
      { length: SDK_PROCESSES },
      (_, p) =>
        new Promise<void>((resolve, reject) => {
          const child = spawn(
            python,
            [join(root, "run.py"), server?.url ?? "", `bench/sdk/run-${p}`, String(SDK_ENTRIES), join(root, "local")],
            {
              cwd: root,
              env,
              stdio: ["ignore", "ignore", "inherit"],
            },
          );
          child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`SDK exited with ${code}`))));
        }),
    ),
  );
  const seconds = (performance.now() - start) / 1000;
  const cpu = server ? cpuSeconds(server.pid) - cpuBefore : null;
  await server?.stop();
  rmSync(root, { recursive: true, force: true });
  const entries = SDK_PROCESSES * SDK_ENTRIES;
  return {
    writer: remote ? `Python SDK → serve, ${SDK_PROCESSES} processes` : `Python SDK local mode, ${SDK_PROCESSES} processes`,
    entries,
    seconds,
    entriesPerSecond: entries / seconds,
    serverCpuNsPerEntry: cpu === null ? null : (cpu * 1e9) / entries,
  };
}

async function inProcess(): Promise<Result> {
  const root = mkdtempSync(join(tmpdir(), "dash-serve-bench-local-"));
  const entries = ENTRIES_PER_CLIENT;
  const start = performance.now();
  const experiment = await new Experiment("bench/local/run", { dashRoot: root }).start();
  const track = experiment.track("robot/position");
  for (let i = 0; i < entries; i++) track.append({ step: i, x: Math.sin(i * 0.01), y: Math.cos(i * 0.01), z: i * 0.5 }, i * 0.001);
  await experiment.complete();
  const seconds = (performance.now() - start) / 1000;
  rmSync(root, { recursive: true, force: true });
  return { writer: "in-process append (no server)", entries, seconds, entriesPerSecond: entries / seconds, serverCpuNsPerEntry: null };
}

async function main(): Promise<void> {
  const results: Result[] = [];
  for (const clients of CLIENTS) results.push(await serveRun(clients));
  results.push(await inProcess());
  let pythonReady = false;
  try {
    execFileSync(python, ["-c", "import ml_dash"], { stdio: "ignore" });
    pythonReady = true;
  } catch {
    console.warn("bench:serve: no .venv-mldash (npm run setup:python); the Python SDK rows are skipped");
  }
  if (pythonReady) {
    results.push(await sdkRun(true));
    results.push(await sdkRun(false));
  }
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  const lines = [
    "| writer | entries | entries/s | server CPU ns/entry |",
    "|---|---:|---:|---:|",
    ...results.map(
      (r) =>
        `| ${r.writer} | ${fmt(r.entries)} | ${fmt(r.entriesPerSecond)} | ${r.serverCpuNsPerEntry === null ? "n/a" : fmt(r.serverCpuNsPerEntry)} |`,
    ),
  ];
  console.log(lines.join("\n"));
  const out = join(__dirname, "results", quick ? "serve-quick.json" : "serve.json");
  writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), batch: BATCH, results }, null, 2)}\n`);
  console.log(`\nwritten to ${out}`);
}

if (require.main === module) void main();
