/**
 * Regenerates the seeds of the `wal` and `wire` fuzz targets from a live engine (run it after a
 * change to the wire format or to the log's records):
 *
 *   npm run build && npx tsx fuzz/make-seeds.ts
 *
 * `seeds/wal/mixed.wal` is the write-ahead log of an engine holding unsealed entries of every
 * value kind; `seeds/wire/batch0.bin` is that log's first batch of entries, after the byte the
 * `wire` target reads as its number of numeric shapes.
 */
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Experiment } from "../src/index.js";

const KIND_ENTRIES = 4;
const RECORD_HEADER = 16;
const MAGIC_BYTES = 8;

async function main(): Promise<void> {
  const dashRoot = mkdtempSync(join(tmpdir(), "dash-seeds-"));
  const experiment = await new Experiment("seeds/mixed", { dashRoot }).start();
  const position = experiment.track("robot/position");
  const events = experiment.track("robot/events");
  const agent = experiment.track("agent/trajectory");
  for (let step = 0; step < 8; step++) position.append({ step, x: step / 2, y: -step, z: 0.3 });
  for (let step = 0; step < 4; step++) agent.append({ step, state: Float32Array.of(step, -step, 0.5), reward: 1 });
  events.append({ step: 0, label: "héllo 🌍", ok: true, nothing: null, big: -(2n ** 63n) }, 1);
  events.append({ step: 1, numbers: [1, 2.5, Number.NaN], strings: ["a", "b"], objects: [{ k: [true] }] }, 2);
  events.append({ step: 2, state: Float32Array.of(0.5, -1), raw: Uint8Array.of(1, 2, 3), wide: BigInt64Array.of(7n) }, 3);
  events.append({ step: 3, meta: { source: "imu", tags: ["sim"] }, empty: {} }, 3);
  const appended = 16;
  // Wait until every entry is in the log (a flush would seal them and empty it).
  const deadline = Date.now() + 10_000;
  while (experiment.stats().entriesLogged < appended) {
    if (Date.now() > deadline) throw new Error("the entries never reached the write-ahead log");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const wal = join(dashRoot, "seeds", "mixed", ".dash-ingest.wal");
  copyFileSync(wal, join(__dirname, "seeds", "wal", "mixed.wal"));

  const log = readFileSync(wal);
  for (let at = MAGIC_BYTES; at + RECORD_HEADER <= log.length; ) {
    const length = log.readUInt32LE(at);
    if (log.readUInt32LE(at + 8) === KIND_ENTRIES) {
      const batch = log.subarray(at + RECORD_HEADER, at + RECORD_HEADER + length);
      writeFileSync(join(__dirname, "seeds", "wire", "batch0.bin"), Buffer.concat([Buffer.of(3), batch]));
      break;
    }
    at += RECORD_HEADER + length;
  }
  await experiment.complete();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
