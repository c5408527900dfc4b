/**
 * The writers measured side by side, on identical work (see scenarios.ts): dash-ingest and what a
 * user would otherwise use to log entries to a file. Each appends entries and `close()` makes them
 * durable (fsync). Peers timestamp an entry with `Date.now() / 1000` unless given one.
 */
import { closeSync, fsyncSync, openSync, writeFileSync, writeSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { McapWriter } from "@mcap/core";
import { Float32, Field, FixedSizeList, makeData, makeVector, Table, tableToIPC, type Vector } from "apache-arrow";
import { Packr } from "msgpackr";
import pino from "pino";
import { Experiment } from "../src/index.js";
import type { Append, Scenario } from "./scenarios.js";

export interface Writer {
  append: Append;
  /** Many rows at once, for a writer with `blocks`. */
  appendColumns?(topic: string, columns: Record<string, Float64Array>): void;
  close(): Promise<void>;
}

export interface Contender {
  name: string;
  /** Whether it can run the scenario (the Arrow writer takes numbers only). */
  supports(scenario: Scenario): boolean;
  /**
   * Whether it takes rows in blocks of columns (`Writer.appendColumns`, fed from `Scenario.block`),
   * so it has no per-append latency to compare.
   */
  blocks?: boolean;
  open(dir: string): Promise<Writer>;
}

const CHUNK_BYTES = 64 * 1024;

/** fsyncs a file that was written through another descriptor. */
function fsyncPath(path: string): void {
  const fd = openSync(path, "r");
  fsyncSync(fd);
  closeSync(fd);
}

/** JSON.stringify cannot write typed arrays as lists; a user would convert them like this. */
function typedArraysAsLists(_key: string, value: unknown): unknown {
  return ArrayBuffer.isView(value) ? Array.from(value as Float32Array) : value;
}

/** Appends text to a file in 64 KiB writes. */
function chunkedFile(path: string) {
  const fd = openSync(path, "w");
  let chunk = "";
  return {
    write(text: string) {
      chunk += text;
      if (chunk.length >= CHUNK_BYTES) {
        writeSync(fd, chunk);
        chunk = "";
      }
    },
    close() {
      writeSync(fd, chunk);
      fsyncSync(fd);
      closeSync(fd);
    },
  };
}

const dashIngest: Contender = {
  name: "dash-ingest",
  supports: () => true,
  async open(dir) {
    const experiment = await new Experiment("bench/run", { dashRoot: dir }).start();
    return {
      append: (topic, data, timestamp) => void experiment.track(topic).append(data, timestamp),
      close: () => experiment.complete(),
    };
  },
};

/**
 * dash-ingest fed the way a harness that already holds its rows in columns feeds it: blocks of
 * typed-array columns through `appendColumns` (see `Scenario.block`).
 */
const dashIngestColumns: Contender = {
  name: "dash-ingest appendColumns (10,000-row blocks)",
  supports: (scenario) => scenario.block !== undefined,
  blocks: true,
  async open(dir) {
    const experiment = await new Experiment("bench/run", { dashRoot: dir }).start();
    return {
      append: (topic, data, timestamp) => void experiment.track(topic).append(data, timestamp),
      appendColumns: (topic, columns) => void experiment.track(topic).appendColumns(columns),
      close: () => experiment.complete(),
    };
  },
};

const jsonLines: Contender = {
  name: "JSON lines + fs",
  supports: () => true,
  async open(dir) {
    const file = chunkedFile(join(dir, "data.jsonl"));
    return {
      append(topic, data, timestamp) {
        file.write(`${JSON.stringify({ topic, timestamp: timestamp ?? Date.now() / 1000, ...data }, typedArraysAsLists)}\n`);
      },
      close: async () => file.close(),
    };
  },
};

const pinoFile: Contender = {
  name: "pino",
  supports: () => true,
  async open(dir) {
    const path = join(dir, "pino.log");
    // pino's largest buffered write is 16 KiB (its maxWrite).
    const destination = pino.destination({ dest: path, sync: false, minLength: 8 * 1024 });
    const logger = pino({ base: null, timestamp: false }, destination);
    return {
      append(topic, data, timestamp) {
        logger.info({ topic, timestamp: timestamp ?? Date.now() / 1000, ...data });
      },
      close: () =>
        new Promise<void>((resolve, reject) => {
          destination.flush((error) => {
            if (error) return reject(error);
            destination.flushSync();
            destination.end();
            fsyncPath(path);
            resolve();
          });
        }),
    };
  },
};

const msgpackrFile: Contender = {
  name: "msgpackr + fs",
  supports: () => true,
  async open(dir) {
    const fd = openSync(join(dir, "data.msgpack"), "w");
    const packr = new Packr({ useRecords: false });
    let parts: Buffer[] = [];
    let bytes = 0;
    const drain = () => {
      writeSync(fd, Buffer.concat(parts, bytes));
      parts = [];
      bytes = 0;
    };
    return {
      append(topic, data, timestamp) {
        const packed = packr.pack({ topic, timestamp: timestamp ?? Date.now() / 1000, ...data });
        parts.push(packed);
        bytes += packed.length;
        if (bytes >= CHUNK_BYTES) drain();
      },
      async close() {
        drain();
        fsyncSync(fd);
        closeSync(fd);
      },
    };
  },
};

const mcap: Contender = {
  name: "@mcap/core (JSON messages)",
  supports: () => true,
  async open(dir) {
    const handle = await open(join(dir, "data.mcap"), "w");
    let position = 0n;
    const writer = new McapWriter({
      writable: {
        write: async (buffer: Uint8Array) => {
          await handle.write(buffer);
          position += BigInt(buffer.byteLength);
        },
        position: () => position,
      },
      chunkSize: 1024 * 1024,
    });
    await writer.start({ profile: "", library: "dash-ingest bench" });
    const channels = new Map<string, number>();
    const encoder = new TextEncoder();
    let sequence = 0;
    return {
      async append(topic, data, timestamp) {
        let channelId = channels.get(topic);
        if (channelId === undefined) {
          channelId = await writer.registerChannel({ topic, messageEncoding: "json", schemaId: 0, metadata: new Map() });
          channels.set(topic, channelId);
        }
        const time = BigInt(Math.round((timestamp ?? Date.now() / 1000) * 1e9));
        await writer.addMessage({
          channelId,
          sequence: sequence++,
          logTime: time,
          publishTime: time,
          data: encoder.encode(JSON.stringify(data, typedArraysAsLists)),
        });
      },
      async close() {
        await writer.end();
        await handle.sync();
        await handle.close();
      },
    };
  },
};

/** Numbers and Float32Arrays per column, grown by doubling: the hand-rolled columnar baseline. */
class GrowableColumn {
  values: Float64Array | Float32Array;
  length = 0;
  constructor(readonly width: number) {
    this.values = width === 1 ? new Float64Array(1024) : new Float32Array(1024 * width);
  }
  push(value: number | Float32Array): void {
    const end = (this.length + 1) * this.width;
    if (end > this.values.length) {
      const grown = new (this.values.constructor as Float64ArrayConstructor)(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    if (typeof value === "number") this.values[this.length] = value;
    else this.values.set(value, this.length * this.width);
    this.length++;
  }
  vector(): Vector {
    if (this.width === 1) return makeVector(this.values.subarray(0, this.length) as Float64Array);
    const child = makeData({ type: new Float32(), data: this.values.subarray(0, this.length * this.width) as Float32Array });
    const type = new FixedSizeList(this.width, new Field("item", new Float32()));
    return makeVector(makeData({ type, length: this.length, child }));
  }
}

const arrowIpc: Contender = {
  name: "apache-arrow IPC (columnar, in memory)",
  supports: (scenario) => scenario.numeric,
  async open(dir) {
    const topics = new Map<string, Map<string, GrowableColumn>>();
    return {
      append(topic, data, timestamp) {
        let columns = topics.get(topic);
        if (columns === undefined) {
          columns = new Map([["timestamp", new GrowableColumn(1)]]);
          topics.set(topic, columns);
        }
        const timestamps = columns.get("timestamp") as GrowableColumn;
        const row = timestamps.length;
        timestamps.push(timestamp ?? Date.now() / 1000);
        for (const key in data) {
          const value = data[key] as number | Float32Array;
          let column = columns.get(key);
          if (column === undefined) {
            column = new GrowableColumn(typeof value === "number" ? 1 : value.length);
            columns.set(key, column);
          }
          while (column.length < row) column.push(column.width === 1 ? Number.NaN : new Float32Array(column.width));
          column.push(value);
        }
      },
      async close() {
        let index = 0;
        for (const columns of topics.values()) {
          const rows = (columns.get("timestamp") as GrowableColumn).length;
          // Fields an entry did not have are NaN (no merging: each entry is a row).
          const vectors: Record<string, Vector> = {};
          for (const [name, column] of columns) {
            while (column.length < rows) column.push(column.width === 1 ? Number.NaN : new Float32Array(column.width));
            vectors[name] = column.vector();
          }
          const path = join(dir, `topic-${index++}.arrow`);
          writeFileSync(path, tableToIPC(new Table(vectors), "file"));
          fsyncPath(path);
        }
      },
    };
  },
};

export const contenders: Contender[] = [dashIngest, dashIngestColumns, jsonLines, pinoFile, msgpackrFile, mcap, arrowIpc];
