/**
 * The peers our engine is measured against, on identical work: what a user would hand-roll to
 * log entries to a file. Each writer appends entries and `close()` makes them durable (fsync).
 */
import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";
import { Packr } from "msgpackr";

export interface EntryWriter {
  append(entry: Record<string, unknown>): void;
  close(): Promise<void>;
}

const CHUNK_BYTES = 64 * 1024;

/** JSON lines with a wall-clock timestamp, buffered into 64 KiB writes. */
export function jsonLinesWriter(path: string): EntryWriter {
  const fd = openSync(path, "w");
  let chunk = "";
  return {
    append(entry) {
      chunk += `${JSON.stringify({ timestamp: Date.now() / 1000, ...entry })}\n`;
      if (chunk.length >= CHUNK_BYTES) {
        writeSync(fd, chunk);
        chunk = "";
      }
    },
    async close() {
      writeSync(fd, chunk);
      fsyncSync(fd);
      closeSync(fd);
    },
  };
}

/** msgpackr (plain MessagePack, records off) per entry, buffered into 64 KiB writes. */
export function msgpackrWriter(path: string): EntryWriter {
  const fd = openSync(path, "w");
  const packr = new Packr({ useRecords: false });
  let parts: Buffer[] = [];
  let bytes = 0;
  const drain = () => {
    writeSync(fd, Buffer.concat(parts, bytes));
    parts = [];
    bytes = 0;
  };
  return {
    append(entry) {
      const packed = packr.pack({ timestamp: Date.now() / 1000, ...entry });
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
}
