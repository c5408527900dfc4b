/**
 * The benchmark's workloads (benches/scenarios.ts) through the engine: every scenario's rows read
 * back exactly, so the fast paths the benchmark measures are the ones that are correct.
 */
import { describe, expect, it } from "vitest";
import { scenarios } from "../benches/scenarios.js";
import { Experiment } from "../src/index.js";
import { expectSegmentsMatch, tempRoot, trackDir } from "./helpers.js";

const STEPS = 3000;

/** Plain objects flattened to dotted names, as the engine stores them; typed arrays copied. */
function flatten(data: Record<string, unknown>, prefix = "", out: Record<string, unknown> = {}): Record<string, unknown> {
  for (const [key, value] of Object.entries(data)) {
    const name = prefix + key;
    if (ArrayBuffer.isView(value)) out[name] = (value as Float32Array).slice();
    else if (value !== null && typeof value === "object" && !Array.isArray(value))
      flatten(value as Record<string, unknown>, `${name}.`, out);
    else out[name] = value;
  }
  return out;
}

describe("benchmark scenarios", () => {
  for (const scenario of scenarios) {
    it(`${scenario.name}: every row reads back exactly`, async () => {
      const experiment = await new Experiment(`bench/${scenario.name}`, { dashRoot: tempRoot() }).start();
      // Per topic: rows by explicit timestamp (merged, later fields win), or in append order.
      const expected = new Map<string, { byTimestamp: Map<number, Record<string, unknown>>; inOrder: Record<string, unknown>[] }>();
      const append = (topic: string, data: Record<string, unknown>, timestamp?: number) => {
        experiment.track(topic).append(data, timestamp);
        let rows = expected.get(topic);
        if (rows === undefined) {
          rows = { byTimestamp: new Map(), inOrder: [] };
          expected.set(topic, rows);
        }
        const fields = flatten(data);
        if (timestamp === undefined) rows.inOrder.push(fields);
        else rows.byTimestamp.set(timestamp, { ...rows.byTimestamp.get(timestamp), ...fields, timestamp });
      };
      for (let i = 0; i < STEPS; i++) await scenario.step(i, append);
      await experiment.flush();

      let rowCount = 0;
      for (const [topic, rows] of expected) {
        const { entries } = await experiment.track(topic).read();
        if (rows.inOrder.length > 0) {
          expect(entries.map(({ timestamp: _, ...fields }) => fields)).toEqual(rows.inOrder);
          const timestamps = entries.map((e) => e.timestamp as number);
          expect(timestamps.every((t, i) => i === 0 || t > (timestamps[i - 1] as number))).toBe(true);
        } else {
          expect(entries).toEqual([...rows.byTimestamp.values()]);
        }
        await expectSegmentsMatch(trackDir(experiment, topic), entries);
        rowCount += entries.length;
      }
      expect(rowCount).toBe(STEPS * scenario.rowsPerStep);
      await experiment.complete();
    });
  }

  for (const scenario of scenarios.filter((s) => s.block !== undefined)) {
    it(`${scenario.name}: its blocks of columns are its steps' entries`, async () => {
      const entries: { topic: string; data: Record<string, unknown> }[] = [];
      for (let i = 0; i < 2500; i++) await scenario.step(i, (topic, data) => void entries.push({ topic, data }));
      for (const [from, to] of [
        [0, 1000],
        [1000, 2500],
      ] as const) {
        const { topic, columns } = scenario.block?.(from, to) ?? { topic: "", columns: {} };
        const rows = entries.slice(from, to).map((entry) => ({ topic: entry.topic, ...entry.data }));
        const fromColumns = Array.from({ length: to - from }, (_, r) =>
          Object.fromEntries([["topic", topic], ...Object.entries(columns).map(([key, column]) => [key, column[r]])]),
        );
        expect(fromColumns).toEqual(rows);
      }
    });
  }
});
