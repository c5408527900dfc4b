/**
 * One measurement in a fresh process (so peak RSS belongs to one writer): runs a scenario through a
 * contender and prints one JSON line of results.
 *
 *   tsx benches/run-one.ts <scenario> <contender> <steps> <latency-steps>
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Contender, contenders } from "./peers.js";
import { BLOCK_ROWS, type Scenario, scenarios } from "./scenarios.js";

function du(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, name) => sum + du(join(path, name)), 0);
}

/** CPU milliseconds so far of the JS thread (from /proc; 0 where there is none). */
function jsThreadCpuMs(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}
/** The kernel's clock ticks per second for /proc times (USER_HZ, 100 on Linux). */
const CLOCK_TICKS = 100;

/** CPU milliseconds so far of the whole process, threads that ended included. */
function processCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}

/** Percentiles of single appends (timer overhead of ~30-50 ns included, equally for every writer). */
async function appendLatency(
  scenario: Scenario,
  contender: Contender,
  latencySteps: number,
): Promise<{ p50: number; p99: number; p999: number }> {
  const latencyDir = mkdtempSync(join(tmpdir(), "dash-bench-"));
  const timed = await contender.open(latencyDir);
  const samples = new Float64Array(latencySteps * scenario.entriesPerStep);
  let n = 0;
  let recording = false;
  const append = async (topic: string, data: Record<string, unknown>, timestamp?: number) => {
    const t0 = performance.now();
    const pending = timed.append(topic, data, timestamp);
    if (pending !== undefined) await pending;
    const t1 = performance.now();
    if (recording) samples[n++] = (t1 - t0) * 1e6;
  };
  // Warm up (JIT) on as many steps as are measured, then measure the steps after them.
  for (let i = 0; i < latencySteps; i++) await scenario.step(i, append);
  recording = true;
  for (let i = latencySteps; i < 2 * latencySteps; i++) await scenario.step(i, append);
  await timed.close();
  rmSync(latencyDir, { recursive: true, force: true });
  const sorted = samples.subarray(0, n).sort();
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), p999: percentile(sorted, 0.999) };
}

async function main(): Promise<void> {
  const [scenarioName, contenderName, stepsText, latencyText] = process.argv.slice(2);
  const scenario = scenarios.find((s) => s.name === scenarioName);
  const contender = contenders.find((c) => c.name === contenderName);
  if (scenario === undefined || contender === undefined) throw new Error(`unknown scenario or contender: ${process.argv.slice(2)}`);
  const steps = Number(stepsText);
  const latencySteps = Number(latencyText);

  // Throughput: first append to durable close.
  const dir = mkdtempSync(join(tmpdir(), "dash-bench-"));
  const [jsBefore, processBefore] = [jsThreadCpuMs(), processCpuMs()];
  const start = performance.now();
  const writer = await contender.open(dir);
  if (contender.blocks && scenario.block !== undefined && writer.appendColumns !== undefined) {
    for (let i = 0; i < steps; i += BLOCK_ROWS) {
      const { topic, columns } = scenario.block(i, Math.min(steps, i + BLOCK_ROWS));
      writer.appendColumns(topic, columns);
    }
  } else {
    for (let i = 0; i < steps; i++) {
      const pending = scenario.step(i, writer.append);
      if (pending !== undefined) await pending;
    }
  }
  await writer.close();
  const seconds = (performance.now() - start) / 1000;
  const entries = steps * scenario.entriesPerStep;
  // The JS thread's CPU per entry, and every other thread's (the engine's writer, log and clock
  // threads, libuv's pool, V8's helpers), which can run on the other cores.
  const js = jsThreadCpuMs() - jsBefore;
  const others = processCpuMs() - processBefore - js;
  const cpuNsPerEntry = { js: (js * 1e6) / entries, others: (Math.max(0, others) * 1e6) / entries };
  const bytes = du(dir);
  rmSync(dir, { recursive: true, force: true });

  // A writer that hands rows over in blocks has no per-append latency to compare.
  const latencyNs = contender.blocks ? null : await appendLatency(scenario, contender, latencySteps);

  process.stdout.write(
    `${JSON.stringify({
      scenario: scenario.name,
      contender: contender.name,
      entries,
      seconds,
      entriesPerSecond: entries / seconds,
      bytesPerRow: bytes / (steps * scenario.rowsPerStep),
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
      latencyNs,
      cpuNsPerEntry,
    })}\n`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
