/**
 * Steady-state append rate (benny), in one process, of the seed's basic `{ step, x, y, z }` entry
 * with automatic timestamps: one benny op = 10,000 appends to an open writer (for a writer that takes
 * blocks of columns, one `appendColumns` of 10,000 rows: the same values). Every writer whose append
 * is synchronous takes part, on identical data. Run alone with `npm run bench:steady`
 * (`-- --quick` for short samples); `npm run bench` runs it after the per-process suite.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import b from "benny";
import { contenders, type Writer } from "./peers.js";
import { BLOCK_ROWS, scenarios } from "./scenarios.js";

const OP_ENTRIES = BLOCK_ROWS;

/** Appends/s per writer name. */
export async function runSteadyState(quick: boolean): Promise<Record<string, number>> {
  const basic = scenarios.find((s) => s.name === "basic");
  if (basic === undefined) throw new Error("no basic scenario");
  const dirs: string[] = [];
  const writers: Writer[] = [];
  const synchronous = contenders.filter((c) => !c.name.startsWith("@mcap"));
  const summary = await b.suite(
    `steady state: append({ step, x, y, z }) x ${OP_ENTRIES} per op`,
    ...synchronous.map((contender) =>
      b.add(contender.name, async () => {
        const dir = mkdtempSync(join(tmpdir(), "dash-bench-"));
        const writer = await contender.open(dir);
        dirs.push(dir);
        writers.push(writer);
        let step = 0;
        const { appendColumns } = writer;
        if (contender.blocks && basic.block !== undefined && appendColumns !== undefined) {
          const block = basic.block;
          return () => {
            const { topic, columns } = block(step, step + OP_ENTRIES);
            appendColumns(topic, columns);
            step += OP_ENTRIES;
          };
        }
        return () => {
          for (let i = 0; i < OP_ENTRIES; i++) void basic.step(step++, writer.append);
        };
      }),
    ),
    b.configure({ cases: { maxTime: quick ? 0.5 : 3, minSamples: 5 } }),
    b.cycle(),
    b.complete(),
  );
  for (const writer of writers) await writer.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  return Object.fromEntries(summary.results.map((r) => [r.name, r.ops * OP_ENTRIES]));
}

if (require.main === module) {
  runSteadyState(process.argv.includes("--quick")).then(
    (rates) => console.log(rates),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
