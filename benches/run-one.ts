/**
 * One measurement in a fresh process (so peak RSS belongs to one writer): runs a scenario through a
 * contender and prints one JSON line of results.
 *
 *   tsx benches/run-one.ts <scenario> <contender> <steps> <latency-steps>
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { contenders } from "./peers.js";
import { scenarios } from "./scenarios.js";

function du(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, name) => sum + du(join(path, name)), 0);
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
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
  const start = performance.now();
  const writer = await contender.open(dir);
  for (let i = 0; i < steps; i++) {
    const pending = scenario.step(i, writer.append);
    if (pending !== undefined) await pending;
  }
  await writer.close();
  const seconds = (performance.now() - start) / 1000;
  const bytes = du(dir);
  rmSync(dir, { recursive: true, force: true });

  // Latency of single appends (timer overhead of ~30-50 ns included, equally for every writer).
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

  const entries = steps * scenario.entriesPerStep;
  process.stdout.write(
    `${JSON.stringify({
      scenario: scenario.name,
      contender: contender.name,
      entries,
      seconds,
      entriesPerSecond: entries / seconds,
      bytesPerRow: bytes / (steps * scenario.rowsPerStep),
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
      latencyNs: { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), p999: percentile(sorted, 0.999) },
    })}\n`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
