/** Test helpers: temp roots, DuckDB as the independent Parquet reader, the Python SDK, servers. */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { freePort } from "./object-store.js";
import { expect } from "vitest";
import { type Entry, Experiment } from "../src/index.js";

/**
 * The Python with the real ml-dash SDK (`npm run setup:python` makes `.venv-mldash`), or
 * `DASH_INGEST_PYTHON`. Tests that need it skip without it, except under `CI=true`, where they
 * run and fail.
 */
export const python = process.env.DASH_INGEST_PYTHON ?? join(__dirname, "..", ".venv-mldash", "bin", "python");

/** Whether `python` can import every one of `modules`. */
export function pythonHas(...modules: string[]): boolean {
  if (!existsSync(python)) return false;
  try {
    execFileSync(python, ["-c", `import ${modules.join(", ")}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Whether tests needing `modules` run: they are there, or CI requires them. */
export function runsWithPython(...modules: string[]): boolean {
  return pythonHas(...modules) || process.env.CI === "true";
}

/** Starts `dash-ingest serve` in a child process; resolves with it and its URL once it listens. */
export function serve(dashRoot: string, args: string[] = [], env = process.env): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [join(__dirname, "..", "dist", "cli.js"), "serve", "--port", "0", "--dash-root", dashRoot, ...args],
    { stdio: ["ignore", "pipe", "pipe"], env },
  );
  return new Promise((resolve, reject) => {
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const url = /http:\/\/[^\s]+/.exec(output)?.[0];
      if (url !== undefined) resolve({ child, url });
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once("exit", (code) => reject(new Error(`serve exited with ${code}: ${output}`)));
  });
}

export { freePort };

/** A fresh directory for one test's `dashRoot`. */
export function tempRoot(): string {
  return mkdtempSync(join(tmpdir(), "dash-ingest-test-"));
}

export function trackDir(experiment: Experiment, topic: string): string {
  return join(experiment.dir as string, "tracks", topic.replaceAll("/", "_"));
}

export function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
}

export function segmentFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".parquet"))
    .map((f) => join(dir, f));
}

/** A number as the engine's tagged JSON writes it (non-finite ones as strings). */
function taggedNumber(x: unknown): unknown {
  return typeof x === "string" ? Number(x) : x;
}

/**
 * The value inside a cell of a column whose values change kind: the engine stores those as tagged
 * JSON text, `{"t": kind, "v": payload}` (see crates/ingest_core/src/storage/tagged.rs), which DuckDB shows as a JSON string.
 */
function untag(text: string): unknown {
  const { t, v } = JSON.parse(text) as { t: string; v: unknown };
  switch (t) {
    case "null":
      return null;
    case "number":
      return taggedNumber(v);
    case "bigint":
      return BigInt(v as string);
    case "json":
      return JSON.parse(v as string);
    case "boolean":
    case "string":
      return v;
    default: // number[] and typed arrays: lists of numbers (64-bit integers as strings)
      return (v as unknown[]).map((x) => (t.startsWith("Big") ? BigInt(x as string) : taggedNumber(x)));
  }
}

/**
 * Every row of every segment in `dir`, read by DuckDB, sorted by timestamp; null cells dropped and
 * tagged cells of mixed columns decoded (then shown as `asDuck` shows our values). Each file is
 * read on its own: a field whose type changed between segments has a different Parquet type in
 * each, which a multi-file read would cast to one type.
 */
export async function duckRows(dir: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (const file of segmentFiles(dir)) rows.push(...(await duckFileRows(file)));
  return rows.sort((a, b) => (a.timestamp as number) - (b.timestamp as number));
}

async function duckFileRows(file: string): Promise<Record<string, unknown>[]> {
  const instance = await DuckDBInstance.create(":memory:");
  const connection = await instance.connect();
  try {
    const source = `read_parquet('${file}')`;
    const types = await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`);
    const jsonColumns = new Set(
      types
        .getRowObjectsJS()
        .filter((c) => c.column_type === "JSON")
        .map((c) => c.column_name as string),
    );
    const reader = await connection.runAndReadAll(`SELECT * FROM ${source} ORDER BY timestamp`);
    return reader.getRowObjectsJS().map((row) => {
      const out: Record<string, unknown> = {};
      for (const [key, raw] of Object.entries(row)) {
        const tagged = jsonColumns.has(key) && typeof raw === "string" && raw.startsWith('{"t":');
        const value = tagged ? asDuck(untag(raw)) : raw;
        if (value !== null) out[key] = value;
      }
      return out;
    });
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** What DuckDB shows for a value we read back: typed arrays as plain arrays, JSON as text. */
function asDuck(value: unknown): unknown {
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<unknown>);
  if (Array.isArray(value) && !value.every((v) => typeof v === "number")) return JSON.stringify(value);
  if (value !== null && typeof value === "object" && !Array.isArray(value)) return JSON.stringify(value);
  return value;
}

/** Asserts DuckDB reads exactly the entries `read()` returned from the track's segments. */
export async function expectSegmentsMatch(dir: string, entries: Entry[]): Promise<void> {
  const rows = await duckRows(dir);
  expect(rows.length).toBe(entries.length);
  // Parquet readers see an explicit null like an absent field (the difference is in dash.nulls).
  const expected = entries.map((entry) => {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(entry)) if (value !== null) out[key] = asDuck(value);
    return out;
  });
  expect(rows).toEqual(expected);
}

/** What an experiment holds, read through the public API and its SDK files, to compare two copies. */
export async function contents(dashRoot: string, prefix: string, spoolRoot?: string) {
  const experiment = await Experiment.open(prefix, { dashRoot, ...(spoolRoot === undefined ? {} : { spoolRoot }) });
  try {
    const tracks: Record<string, unknown[]> = {};
    for (const { topic } of await experiment.tracks.list()) tracks[topic] = (await experiment.track(topic).read()).entries;
    const files = [];
    for (const record of await experiment.files().listAll()) {
      const prefixOf = record.path.replace(/^\//, "");
      const bytes = await experiment.files(prefixOf).read(record.filename);
      files.push({ path: record.path, filename: record.filename, checksum: record.checksum, bytes: bytes.toString("base64") });
    }
    files.sort((a, b) => `${a.path}/${a.filename}`.localeCompare(`${b.path}/${b.filename}`));
    const dir = experiment.dir as string;
    const lines = (file: string) =>
      existsSync(join(dir, file))
        ? readFileSync(join(dir, file), "utf8")
            .split("\n")
            .filter((l) => l.length > 0)
            .map((l) => JSON.parse(l) as Record<string, unknown>)
        : [];
    const logs = lines("logs/logs.jsonl").map(({ timestamp, level, message, metadata }) => ({ timestamp, level, message, metadata }));
    const metrics: Record<string, unknown[]> = {};
    for (const name of ["train", "eval/loss"]) {
      const points = lines(`metrics/${name}/data.jsonl`).map((l) => l.data);
      if (points.length > 0) metrics[name] = points;
    }
    const record = JSON.parse(readFileSync(join(dir, "experiment.json"), "utf8")) as Record<string, unknown>;
    return { tracks, files, logs, metrics, params: experiment.params.get(), status: record.status };
  } finally {
    await experiment.close();
  }
}

/** A small program: tracks (some timestamps shared, some repeated across flushes), logs, metrics, params, files. */
export async function record(experiment: Experiment, seed: number, entries = 3000): Promise<void> {
  let state = seed;
  const random = () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
  for (let i = 0; i < entries; i++) {
    const topic = random() < 0.5 ? "robot/position" : "robot/control";
    const timestamp = Math.floor(random() * entries) / 100; // repeats merge locally and on the server
    experiment.track(topic).append({ step: i, x: random(), label: `é${i % 7}` }, { timestamp });
    if (i % 500 === 0) {
      experiment.log(`step ${i}`, { level: "info", metadata: { i } });
      experiment.metrics("train").log({ step: i, loss: random() });
      experiment.params.set({ lr: random(), nested: { step: i } });
      await experiment.files("robot/frames").save(Buffer.from(`frame ${i} ${random()}`), { to: `frame_${i}.txt` });
      if (random() < 0.5) await experiment.flush();
    }
  }
}
