/** Test helpers: temp roots, and DuckDB as the independent Parquet reader. */
import { mkdtempSync, readdirSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { expect } from "vitest";
import type { Entry, Experiment } from "../src/index.js";

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

/** Every row of every segment in `dir`, read by DuckDB, sorted by timestamp, nulls dropped. */
export async function duckRows(dir: string): Promise<Record<string, unknown>[]> {
  const files = segmentFiles(dir);
  if (files.length === 0) return [];
  const instance = await DuckDBInstance.create(":memory:");
  const connection = await instance.connect();
  try {
    const list = files.map((f) => `'${f}'`).join(", ");
    const reader = await connection.runAndReadAll(
      `SELECT * FROM read_parquet([${list}], union_by_name = true) ORDER BY timestamp`,
    );
    return reader.getRowObjectsJS().map((row) => {
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(row)) if (value !== null) out[key] = value;
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
