/**
 * Differential test against the real Python ml-dash SDK: seeded random programs (appends with
 * explicit timestamps, nested values, lists with NaN, flushes, metrics, logs, parameters, files)
 * run through the SDK and through dash-ingest; the two `.dash` trees are compared file by file and
 * value by value, allowing only the differences the README's compatibility section lists; then
 * each engine reads both trees. A failing program is shrunk (ops, then fields, removed while it
 * still fails) and printed.
 *
 * `DASH_DIFF_RUNS` (default 300) and `DASH_DIFF_SEED` (default fixed) size and pick the run.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Experiment } from "../src/index.js";
import { parsePythonJson, pythonJson } from "../src/python-json.js";
import { python, runsWithPython, tempRoot } from "./helpers.js";

type Value = unknown;
type Op =
  | { op: "append"; topic: string; data: Record<string, Value>; ts: number }
  | { op: "flush"; topic: string }
  | { op: "metric"; name: string; data: Record<string, Value> }
  | { op: "log"; level: string; message: string; metadata?: Record<string, Value> }
  | { op: "params"; values: Record<string, Value> }
  | { op: "file"; prefix: string; to: string; text?: string; json?: Record<string, Value> };
interface Program {
  prefix: string;
  ops: Op[];
}

const RUNS = Number(process.env.DASH_DIFF_RUNS ?? 300);
const SEED = Number(process.env.DASH_DIFF_SEED ?? 20261201);

// ---- generating programs ----

const strings = fc.constantFrom("", "a", "é", "日本", "😀", 'q"\\\n\t', "\u0000NaN", "\u0000", "NaN", "Infinity", " x ");
const numbers = fc.oneof(
  fc.double(),
  fc.integer({ min: -1000, max: 1000 }),
  fc.constantFrom(Number.NaN, Infinity, -Infinity, -0, 0.1, 1e-7, 1e16, 123456789.125),
);
const scalar = fc.oneof(numbers, strings, fc.boolean(), fc.constant(null));
/** A list as the SDK stores it: all numbers (a column of floats), or mixed, nested, with dicts. */
const list: fc.Arbitrary<Value[]> = fc.oneof(
  fc.array(numbers, { maxLength: 4 }),
  fc.array(
    fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }), fc.dictionary(fc.constantFrom("k", "é", "\u0000NaN"), scalar, { maxKeys: 2 })),
    { minLength: 1, maxLength: 4 },
  ),
);
const leaf = fc.oneof({ weight: 3, arbitrary: scalar }, { weight: 2, arbitrary: list });
/**
 * Fields: plain names, a nested object (flattened to `cfg.u`, `cfg.v`), an empty object (no field).
 * `cfg` always holds both keys: the SDK merges appends at one timestamp before flattening, so a
 * later `cfg` with other keys replaces the earlier one's, where we merge field by field (a
 * documented difference; the README's compatibility section).
 */
const fields = fc.record({ x: leaf, y: leaf, é: leaf, cfg: fc.record({ u: leaf, v: leaf }), empty: fc.constant({}) }, { requiredKeys: [] });
const topic = fc.constantFrom("pos", "robot/arm");
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({ op: fc.constant("append" as const), topic, data: fields, ts: fc.constantFrom(1, 2, 2.5, 1e9 + 0.125, 7) }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("flush" as const), topic }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("metric" as const), name: fc.constantFrom("train", "eval_loss"), data: fields }) },
  {
    weight: 2,
    arbitrary: fc.record(
      {
        op: fc.constant("log" as const),
        level: fc.constantFrom("info", "warn", "error", "debug", "fatal", "WARN", "Info"),
        message: strings,
        metadata: fc.record({ x: leaf, y: leaf, cfg: fc.record({ u: leaf }, { requiredKeys: [] }) }, { requiredKeys: [] }),
      },
      { requiredKeys: ["op", "level", "message"] },
    ),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("params" as const), values: fields }) },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.record({
        op: fc.constant("file" as const),
        prefix: fc.constantFrom("", "docs", "a/b"),
        to: fc.constantFrom("n.txt", "sub/n.txt", "c.json"),
        text: strings,
      }),
      fc.record({
        op: fc.constant("file" as const),
        prefix: fc.constantFrom("", "docs"),
        to: fc.constantFrom("c.json", "sub/c.json"),
        json: fields,
      }),
    ),
  },
);
/**
 * A program: at most one save per file name. The SDK uploads a batch of saved files on parallel
 * threads, so which of two saves of one name it keeps is a race (here the last one wins).
 */
const ops = fc.array(op, { minLength: 1, maxLength: 12 }).map((steps) => {
  const saved = new Set<string>();
  return steps.filter((step) => {
    if (step.op !== "file") return true;
    const target = `${step.prefix}/${step.to}`.replace(/^\//, "");
    return !saved.has(target) && saved.add(target) !== undefined;
  });
});

// ---- running them ----

function runSdk(root: string, programs: Program[]): void {
  execFileSync(python, [join(__dirname, "python", "sdk_program.py"), "run", root], {
    input: pythonJson(programs, "programs"),
    stdio: ["pipe", "pipe", "pipe"],
    timeout: 600_000,
    maxBuffer: 1 << 28,
  });
}

async function runOurs(root: string, program: Program): Promise<void> {
  await new Experiment(program.prefix, { dashRoot: root }).run(async (experiment) => {
    for (const step of program.ops) {
      switch (step.op) {
        case "append":
          experiment.track(step.topic).append(step.data, step.ts);
          break;
        case "flush":
          await experiment.track(step.topic).flush();
          break;
        case "metric":
          experiment.metrics(step.name).log(step.data);
          break;
        case "log":
          experiment.log(step.message, { level: step.level as "info", metadata: step.metadata });
          break;
        case "params":
          experiment.params.set(step.values);
          break;
        case "file":
          experiment.files(step.prefix).save((step.text ?? step.json) as string, { to: step.to });
          break;
      }
    }
    await experiment.exportMlDash();
  });
}

// ---- comparing trees ----

/** Every file under `dir`, relative, with the SDK's snowflake file ids (a directory of digits) as `<id>`. */
function files(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (at: string) => {
    for (const name of readdirSync(at)) {
      const path = join(at, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.set(relative(dir, path).replace(/\/\d{6,}\//g, "/<id>/"), path);
    }
  };
  walk(dir);
  return out;
}

/** Files only one side has, by design (README, "ml-dash compatibility"). */
const OURS_ONLY = [/^tracks\/[^/]+\/.*\.parquet$/, /^\.dash-ingest/, /(^|\/)\.dash-ingest[^/]*$/];
const SDK_ONLY = [/\.lock$/];
/** Files whose JSON object we extend with fields of our own, after the SDK's. */
const EXTENDED = [/^experiment\.json$/, /^tracks\/[^/]+\/metadata\.json$/];

/** What differs from run to run (times, ids), masked. */
function masked(text: string): string {
  return text
    .replace(/"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"/g, '"<time>"')
    .replace(/"_ts": [-\d.e+]+/g, '"_ts": <ts>')
    .replace(/"id": "\d+"/g, '"id": "<id>"');
}

/** Equal as values: NaN equals NaN, -0 is not 0, an int equals the same float (JS cannot tell). */
function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a === "number" && typeof b === "number") return Object.is(a, b);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, i) => sameValue(item, b[i]));
  if (a !== null && b !== null && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
    const [ka, kb] = [Object.keys(a).sort(), Object.keys(b).sort()];
    return sameValue(ka, kb) && ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return a === b;
}

/** A data.jsonl's rows as a reader sees them: equal timestamps merged in file order, sorted. */
function rows(text: string): Record<string, unknown>[] {
  const byTime = new Map<number, Record<string, unknown>>();
  for (const line of text.split("\n").filter((l) => l.trim() !== "")) {
    const row = parsePythonJson(line) as Record<string, unknown>;
    byTime.set(row.timestamp as number, { ...byTime.get(row.timestamp as number), ...row });
  }
  return [...byTime.keys()].sort((a, b) => a - b).map((t) => byTime.get(t) as Record<string, unknown>);
}

/**
 * File records by path and name. Documented: ours are in save order; the SDK's in the order its
 * parallel upload threads finish.
 */
function records(text: string): unknown[] {
  const { files } = parsePythonJson(text) as { files: { path: string; filename: string }[] };
  return files.sort((a, b) => `${a.path}/${a.filename}`.localeCompare(`${b.path}/${b.filename}`));
}

/** The differences between the SDK's tree and ours for one program, as readable lines. */
function differences(sdkDir: string, ourDir: string): string[] {
  const problems: string[] = [];
  const [sdk, ours] = [files(sdkDir), files(ourDir)];
  for (const name of sdk.keys()) if (!ours.has(name) && !SDK_ONLY.some((p) => p.test(name))) problems.push(`only the SDK wrote ${name}`);
  for (const name of ours.keys()) if (!sdk.has(name) && !OURS_ONLY.some((p) => p.test(name))) problems.push(`only we wrote ${name}`);
  for (const [name, sdkPath] of sdk) {
    const ourPath = ours.get(name);
    if (ourPath === undefined) continue;
    const [a, b] = [readFileSync(sdkPath, "utf8"), readFileSync(ourPath, "utf8")];
    if (/^tracks\/[^/]+\/data\.jsonl$/.test(name)) {
      if (!sameValue(rows(a), rows(b))) problems.push(`${name}: rows differ\n  sdk:  ${a.trim()}\n  ours: ${b.trim()}`);
      continue;
    }
    let [x, y] = [masked(a), masked(b)];
    // Documented: equal timestamps merge across flushes here; the SDK counts a line per flush.
    const data = sdk.get(name.replace(/metadata\.json$/, "data.jsonl"));
    if (/^tracks\/[^/]+\/metadata\.json$/.test(name) && data !== undefined) {
      x = x.replace(/"totalEntries": \d+/, `"totalEntries": ${rows(readFileSync(data, "utf8")).length}`);
    }
    // Documented: experiment.json and a track's metadata.json end with our fields; parameters.json keeps createdAt.
    const same = EXTENDED.some((p) => p.test(name))
      ? y.startsWith(x.slice(0, -1))
      : x === y || (name === "parameters.json" && x === y.replace(/, "createdAt": "<time>"/, ""));
    if (!same && !(name === "files/.files_metadata.json" && sameValue(records(x), records(y))))
      problems.push(`${name} differs\n  sdk:  ${x}\n  ours: ${y}`);
  }
  return problems;
}

/** What the SDK's `read()` gives for each topic of each request, from the tree under `root`. */
function sdkReads(root: string, requests: { prefix: string; topics: string[] }[]): Record<string, unknown[]>[] {
  const output = execFileSync(python, [join(__dirname, "python", "sdk_program.py"), "read", root], {
    input: JSON.stringify(requests),
    stdio: ["pipe", "pipe", "pipe"],
    timeout: 600_000,
    maxBuffer: 1 << 28,
  });
  return output
    .toString()
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => parsePythonJson(line) as Record<string, unknown[]>);
}

/** What our `read()` gives for each of `topics`, from the tree under `root`. */
async function ourReads(root: string, prefix: string, topics: string[]): Promise<Record<string, unknown[]>> {
  await using experiment = await Experiment.open(prefix, { dashRoot: root });
  const out: Record<string, unknown[]> = {};
  for (const topic of topics) out[topic] = (await experiment.track(topic).read()).entries;
  return out;
}

/** Entries with equal timestamps merged in order (documented: the SDK's reader keeps a row per flush). */
function merged(entries: unknown[]): unknown[] {
  return rows(entries.map((entry) => pythonJson(entry, "entry")).join("\n"));
}

/** Runs `programs` through both engines; the differences of each, by index. */
async function compare(programs: Program[]): Promise<Map<number, string[]>> {
  const [sdkRoot, ourRoot] = [tempRoot(), tempRoot()];
  runSdk(sdkRoot, programs);
  const found = new Map<number, string[]>();
  for (const [i, program] of programs.entries()) {
    try {
      await runOurs(ourRoot, program);
      const problems = differences(join(sdkRoot, program.prefix), join(ourRoot, program.prefix));
      if (problems.length > 0) found.set(i, problems);
    } catch (error) {
      found.set(i, [`dash-ingest threw: ${String(error)}`]);
    }
  }
  // Each engine reads both trees: ours and the SDK's must read the same entries.
  const requests = programs.map((program) => ({
    prefix: program.prefix,
    topics: [...new Set(program.ops.flatMap((step) => (step.op === "append" ? [step.topic] : [])))],
  }));
  const [sdkOfSdk, sdkOfOurs] = [sdkReads(sdkRoot, requests), sdkReads(ourRoot, requests)];
  for (const [i, { prefix, topics }] of requests.entries()) {
    if (found.has(i)) continue;
    const [oursOfSdk, oursOfOurs] = [await ourReads(sdkRoot, prefix, topics), await ourReads(ourRoot, prefix, topics)];
    const problems = topics.flatMap((topic) => {
      const views = {
        "the SDK reading its tree (merged)": merged(sdkOfSdk[i]?.[topic] ?? []),
        "the SDK reading ours": sdkOfOurs[i]?.[topic],
        "us reading the SDK's": oursOfSdk[topic],
      };
      return Object.entries(views)
        .filter(([, view]) => !sameValue(view, oursOfOurs[topic]))
        .map(
          ([who, view]) =>
            `${topic}: ${who} differs from us reading ours\n  ${pythonJson(view, "view")}\n  ${pythonJson(oursOfOurs[topic], "view")}`,
        );
    });
    if (problems.length > 0) found.set(i, problems);
  }
  return found;
}

/** Removes ops, then fields, while the program still differs; the smallest failing one. */
async function shrink(program: Program): Promise<{ program: Program; problems: string[] }> {
  const fails = async (candidate: Program) => (await compare([candidate])).get(0);
  let best = program;
  let problems = (await fails(best)) ?? [];
  for (let changed = true; changed; ) {
    changed = false;
    const candidates: Program[] = [];
    for (let i = 0; i < best.ops.length; i++) candidates.push({ ...best, ops: best.ops.filter((_, j) => j !== i) });
    for (const [i, step] of best.ops.entries()) {
      const data = "data" in step ? step.data : "values" in step ? step.values : undefined;
      for (const key of Object.keys(data ?? {})) {
        const { [key]: _, ...rest } = data as Record<string, Value>;
        const smaller = "data" in step ? { ...step, data: rest } : { ...step, values: rest };
        candidates.push({ ...best, ops: best.ops.map((s, j) => (j === i ? (smaller as Op) : s)) });
      }
    }
    for (const candidate of candidates) {
      if (candidate.ops.length === 0) continue;
      const still = await fails(candidate);
      if (still !== undefined) {
        [best, problems, changed] = [candidate, still, true];
        break;
      }
    }
  }
  return { program: best, problems };
}

describe.runIf(runsWithPython("ml_dash"))("differential: the same programs through the Python SDK and dash-ingest", () => {
  it(`${RUNS} seeded random programs write the same trees (seed ${SEED})`, { timeout: 900_000 }, async () => {
    const programs = fc.sample(ops, { seed: SEED, numRuns: RUNS }).map((steps, i) => ({ prefix: `diff/p${i}`, ops: steps }));
    const found = await compare(programs);
    const first = [...found.keys()][0];
    if (first !== undefined) {
      const { program, problems } = await shrink(programs[first] as Program);
      expect.fail(
        `${found.size} of ${RUNS} programs differ; the first, shrunk:\n${pythonJson(program.ops, "ops")}\n${problems.join("\n")}`,
      );
    }
  });
});
