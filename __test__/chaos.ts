/**
 * The model-based chaos test: rounds of a writer process running a random program on one
 * experiment (appends in order, late and at used timestamps, flushes, metrics, logs, parameters,
 * file saves, exports), killed with SIGKILL at a random moment, while another process reads the
 * experiment over and over. Every third round also simulates what a power loss may take back:
 * deleted segments come back (unlinks are not synced), log and metric files lose or tear what
 * followed their last acknowledged line, the write-ahead log loses a tail.
 *
 * After every round, a fresh reader checks the experiment against a model of what the writers
 * acknowledged (an operation is acknowledged once a later flush resolved): every acknowledged
 * value is there (or a value written after it), nothing is doubled, nothing was never written,
 * no record is torn, and the concurrent reader never failed. Programs are seeded: a failure
 * names the round's seed and the operations it ran, which replay exactly.
 */
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { Experiment } from "../src/index.js";

const { program, prng, TOPICS, FILES } = require("./fixtures/chaos-program.cjs") as {
  program: (seed: number, count: number) => Op[];
  prng: (seed: number) => () => number;
  TOPICS: string[];
  FILES: string[];
};

type Op =
  | { op: "append"; topic: string; ts: number; fields: string[] }
  | { op: "flush" | "metric" | "log" | "param" | "export" }
  | { op: "file"; name: string }
  | { op: "pause"; ms: number };

const fixtures = join(__dirname, "fixtures");
const OPS_PER_ROUND = 4000;
/** The writer prints "at i" before every AT_EVERY-th operation (see chaos-writer.cjs). */
const AT_EVERY = 50;

/** Values written to one place, in order, and how many of the first ones were acknowledged. */
interface Writes {
  values: string[];
  acked: number;
}

function record(map: Map<string, Writes>, key: string, value: string, acked: boolean): void {
  let writes = map.get(key);
  if (writes === undefined) {
    writes = { values: [], acked: 0 };
    map.set(key, writes);
  }
  writes.values.push(value);
  if (acked) writes.acked = writes.values.length;
}

/** The values a reader may see for `writes`: the last acknowledged one or any later one. */
function allowed(writes: Writes): string[] {
  return writes.values.slice(Math.max(writes.acked - 1, 0));
}

class Model {
  /** `${topic}\u0000${ts}\u0000${field}` → writes. */
  readonly cells = new Map<string, Writes>();
  readonly timestamps = new Map<string, Set<number>>(TOPICS.map((t) => [t, new Set<number>()]));
  readonly metrics = new Map<string, boolean>();
  readonly logs = new Map<string, boolean>();
  readonly params = new Map<string, Writes>();
  readonly files = new Map<string, Writes>();

  /** Adds a round: `ops` ran up to (not including) `ran`; those before `acked` were acknowledged. */
  add(seed: number, ops: Op[], ran: number, acked: number): void {
    for (let i = 0; i < ran; i++) {
      const o = ops[i] as Op;
      const id = `${seed}:${i}`;
      const isAcked = i < acked;
      switch (o.op) {
        case "append":
          this.timestamps.get(o.topic)?.add(o.ts);
          for (const field of o.fields) record(this.cells, `${o.topic}\u0000${o.ts}\u0000${field}`, id, isAcked);
          break;
        case "metric":
          this.metrics.set(id, isAcked);
          break;
        case "log":
          this.logs.set(`op ${id}`, isAcked);
          break;
        case "param":
          record(this.params, "last", id, isAcked);
          break;
        case "file":
          record(this.files, o.name, id, isAcked);
          break;
        default:
      }
    }
  }
}

export interface ChaosReport {
  rounds: number;
  kills: number;
  powerLosses: number;
  /** Operations the writers ran (at least), and those acknowledged by a flush. */
  operations: number;
  acknowledged: number;
  concurrentReads: number;
  problems: string[];
}

interface Round {
  seed: number;
  /** Operations that may have run (the writer ran at most up to the kill). */
  ran: number;
  acked: number;
  killed: boolean;
  reads: number;
  readerErrors: string[];
}

function runRound(root: string, seed: number, killAfterMs: number): Promise<Round> {
  return new Promise((resolve, reject) => {
    const writer = spawn(process.execPath, [join(fixtures, "chaos-writer.cjs"), root, String(seed), String(OPS_PER_ROUND)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const reader = spawn(process.execPath, [join(fixtures, "chaos-reader.cjs"), root], { stdio: ["ignore", "pipe", "pipe"] });
    const round: Round = { seed, ran: 0, acked: 0, killed: false, reads: 0, readerErrors: [] };
    let stderr = "";
    let done = false;
    writer.stderr.on("data", (chunk) => (stderr += chunk));
    reader.stdout.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) {
        if (line.startsWith("error ")) round.readerErrors.push(line.slice(6));
        const reads = /^reads (\d+)$/.exec(line);
        if (reads) round.reads = Number(reads[1]);
      }
    });
    writer.stdout.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) {
        const ack = /^ack (\d+)$/.exec(line);
        if (ack) round.acked = Number(ack[1]);
        // "at i" comes before operation i runs: at most the next AT_EVERY may have run since.
        const at = /^at (\d+)$/.exec(line);
        if (at) round.ran = Math.min(OPS_PER_ROUND, Number(at[1]) + AT_EVERY);
        if (line === "done") {
          done = true;
          round.ran = OPS_PER_ROUND;
        }
        if (line === "started") {
          setTimeout(() => {
            round.killed = !done;
            writer.kill("SIGKILL");
          }, killAfterMs);
        }
      }
    });
    writer.on("exit", (code, signal) => {
      clearTimeout(deadline);
      reader.kill("SIGKILL");
      if (signal === "SIGKILL" || code === 0) resolve(round);
      else reject(new Error(`chaos writer (seed ${seed}) exited with ${code ?? signal}: ${stderr}`));
    });
    const deadline = setTimeout(() => writer.kill("SIGKILL"), 120_000);
  });
}

/**
 * What a power loss may take back from the experiment in `dir`: every segment file ever seen
 * (stashed between rounds) that is gone comes back; log and metric files keep their acknowledged
 * lines and lose a random part of the rest (possibly mid-line); the write-ahead log loses a tail.
 */
function powerLoss(dir: string, stash: string, model: Model, random: () => number): void {
  for (const topic of TOPICS) {
    const track = join(dir, "tracks", topic.replaceAll("/", "_"));
    const stashed = join(stash, topic.replaceAll("/", "_"));
    if (!existsSync(stashed) || !existsSync(track)) continue;
    for (const file of readdirSync(stashed)) {
      if (!existsSync(join(track, file))) copyFileSync(join(stashed, file), join(track, file));
    }
  }
  const cut = (path: string, lastAckedLine: (line: string) => boolean) => {
    if (!existsSync(path)) return;
    const text = readFileSync(path, "utf8");
    let keep = 0;
    let offset = 0;
    for (const line of text.split("\n")) {
      offset += Buffer.byteLength(line) + 1;
      if (lastAckedLine(line)) keep = Math.min(offset, Buffer.byteLength(text));
    }
    const size = statSync(path).size;
    truncateSync(path, keep + Math.floor(random() * (size - keep + 1)));
  };
  cut(join(dir, "logs", "logs.jsonl"), (line) => [...model.logs].some(([m, acked]) => acked && line.includes(`"${m}"`)));
  cut(join(dir, "metrics", "train", "data.jsonl"), (line) => [...model.metrics].some(([id, acked]) => acked && line.includes(`"${id}"`)));
  const wal = join(dir, ".dash-ingest.wal");
  if (existsSync(wal)) truncateSync(wal, Math.floor(random() * (statSync(wal).size + 1)));
}

/** Copies every segment file of the experiment into the stash (for `powerLoss`). */
function stashSegments(dir: string, stash: string): void {
  for (const topic of TOPICS) {
    const name = topic.replaceAll("/", "_");
    const track = join(dir, "tracks", name);
    if (!existsSync(track)) continue;
    mkdirSync(join(stash, name), { recursive: true });
    for (const file of readdirSync(track).filter((f) => f.endsWith(".parquet"))) {
      if (!existsSync(join(stash, name, file))) copyFileSync(join(track, file), join(stash, name, file));
    }
  }
}

/** Checks the experiment against the model; returns what is wrong. */
async function check(root: string, model: Model, where: string): Promise<string[]> {
  const problems: string[] = [];
  const fail = (what: string) => problems.push(`${where}: ${what}`);
  const experiment = await Experiment.open("chaos/run", { dashRoot: root });
  try {
    for (const topic of TOPICS) {
      const { entries } = await experiment.track(topic).read();
      const seen = new Set<number>();
      for (const entry of entries) {
        const ts = entry.timestamp;
        if (seen.has(ts)) fail(`${topic}: timestamp ${ts} read twice`);
        seen.add(ts);
        if (!model.timestamps.get(topic)?.has(ts)) fail(`${topic}: timestamp ${ts} was never written`);
        for (const [field, value] of Object.entries(entry)) {
          if (field === "timestamp") continue;
          const writes = model.cells.get(`${topic}\u0000${ts}\u0000${field}`);
          if (writes === undefined || !allowed(writes).includes(value as string)) {
            fail(`${topic}@${ts}.${field} = ${String(value)}, allowed ${JSON.stringify(writes ? allowed(writes) : [])}`);
          }
        }
      }
      for (const [key, writes] of model.cells) {
        const [t, ts, field] = key.split("\u0000") as [string, string, string];
        if (t !== topic || writes.acked === 0) continue;
        const entry = entries.find((e) => e.timestamp === Number(ts));
        if (entry === undefined || !(field in entry)) fail(`${topic}@${ts}.${field}: acknowledged value missing`);
      }
    }

    const { data } = await experiment.metrics("train").read({ limit: 1e9 });
    const ids = data.map((p) => (p.data as { id: string }).id);
    if (new Set(ids).size !== ids.length) fail("metric points doubled");
    if (data.some((p, i) => p.index !== i)) fail(`metric indexes are not 0..${data.length - 1}`);
    for (const id of ids) if (!model.metrics.has(id)) fail(`metric point ${id} was never logged`);
    for (const [id, acked] of model.metrics) if (acked && !ids.includes(id)) fail(`acknowledged metric point ${id} missing`);

    const logPath = join(root, "chaos/run/logs/logs.jsonl");
    const text = existsSync(logPath) ? readFileSync(logPath, "utf8") : "";
    const complete = text.slice(0, text.lastIndexOf("\n") + 1);
    const lines: { sequenceNumber: number; message: string }[] = [];
    for (const line of complete.split("\n").filter((l) => l !== "")) {
      try {
        lines.push(JSON.parse(line) as { sequenceNumber: number; message: string });
      } catch {
        fail(`torn log line ${JSON.stringify(line.slice(0, 80))}`);
      }
    }
    const sequence = lines.map((l) => l.sequenceNumber);
    if (new Set(sequence).size !== sequence.length) fail("log sequence numbers repeat");
    const messages = new Set(lines.map((l) => l.message));
    for (const [message, acked] of model.logs) if (acked && !messages.has(message)) fail(`acknowledged log line ${message} missing`);

    const params = experiment.params.get();
    const lastParam = model.params.get("last");
    if (lastParam && lastParam.acked > 0 && !allowed(lastParam).includes(params.last as string)) {
      fail(`parameter last = ${String(params.last)}, allowed ${JSON.stringify(allowed(lastParam))}`);
    }
    for (const name of FILES) {
      const writes = model.files.get(name);
      if (writes === undefined || writes.acked === 0) continue;
      const content = (await experiment.files("chaos").read(name)).toString();
      if (!allowed(writes).includes(content)) fail(`file ${name} = ${content}, allowed ${JSON.stringify(allowed(writes))}`);
    }
  } catch (error) {
    fail(`reading failed: ${String(error)}`);
  } finally {
    await experiment.close();
  }
  return problems;
}

/**
 * Runs rounds until `rounds` are done or `seconds` have passed (whichever is given), from
 * `seed`. `log` gets a line per round.
 */
export async function runChaos(options: {
  root: string;
  seed: number;
  rounds?: number;
  seconds?: number;
  log?: (line: string) => void;
}): Promise<ChaosReport> {
  const { root, seed } = options;
  const random = prng(seed);
  const model = new Model();
  const stash = join(root, ".stash");
  const dir = join(root, "chaos/run");
  const report: ChaosReport = { rounds: 0, kills: 0, powerLosses: 0, operations: 0, acknowledged: 0, concurrentReads: 0, problems: [] };
  const until = Date.now() + (options.seconds ?? Infinity) * 1000;
  while (report.rounds < (options.rounds ?? Infinity) && Date.now() < until && report.problems.length === 0) {
    const roundSeed = seed * 1000 + report.rounds;
    const ops = program(roundSeed, OPS_PER_ROUND);
    // Most rounds are killed within 1.5 s; every fifth gets 6 s, time to finish its program.
    const killAfter = report.rounds % 5 === 4 ? 6000 : 30 + Math.floor(random() * 1500);
    const round = await runRound(root, roundSeed, killAfter);
    model.add(roundSeed, ops, round.ran, round.acked);
    report.rounds++;
    report.kills += round.killed ? 1 : 0;
    report.operations += Math.max(round.ran - AT_EVERY, round.acked);
    report.acknowledged += round.acked;
    report.concurrentReads += round.reads;
    const where = `round ${report.rounds} (seed ${roundSeed}, acknowledged ${round.acked} of ${OPS_PER_ROUND} operations)`;
    for (const error of round.readerErrors) report.problems.push(`${where}: concurrent reader: ${error}`);
    let lost = false;
    if (report.rounds % 3 === 0 && existsSync(dir)) {
      powerLoss(dir, stash, model, random);
      report.powerLosses++;
      lost = true;
    }
    if (existsSync(dir)) {
      report.problems.push(...(await check(root, model, where)));
      stashSegments(dir, stash);
    }
    options.log?.(
      `${where}: ${round.killed ? "killed" : "finished"}${lost ? ", power loss" : ""}, ${round.reads} concurrent reads, ` +
        `${report.problems.length} problems`,
    );
  }
  return report;
}
