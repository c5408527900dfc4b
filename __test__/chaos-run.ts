/**
 * `npm run chaos -- <seconds> [seed]`: the chaos test (chaos.ts) for as long as asked, one line per
 * round, a summary at the end; exit code 1 if anything acknowledged was lost, doubled or reverted.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runChaos } from "./chaos.js";

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 60);
  const seed = Number(process.argv[3] ?? Math.floor(Math.random() * 1e6));
  if (!Number.isSafeInteger(seed) || !Number.isFinite(seconds)) {
    console.error("usage: npm run chaos -- <seconds> [integer seed]");
    process.exit(2);
  }
  const root = mkdtempSync(join(tmpdir(), "dash-ingest-chaos-"));
  console.log(`chaos: ${seconds} s from seed ${seed} in ${root}`);
  const report = await runChaos({ root, seed, seconds, log: (line) => console.log(line) });
  console.log(JSON.stringify({ ...report, problems: report.problems.length }));
  for (const problem of report.problems.slice(0, 50)) console.log(`PROBLEM ${problem}`);
  process.exitCode = report.problems.length === 0 ? 0 : 1;
}

void main();
