/**
 * The write side of one started experiment: timestamps, the staging encoder and the native
 * engine. Internal; `Experiment` and `TrackBuilder` are the public faces.
 *
 * Contract of `append`: synchronous, never waits on I/O (it may wait for queue room only when the
 * writer falls behind, bounded by the backpressure timeout), and either records the whole entry
 * or throws and records nothing.
 */
import { dashError, dashTypeError, describe } from "./errors.js";
import { StrictClock } from "./clock.js";
import { commitBatch, type NativeEngine, type EngineStats, type ReadRequest, type TrackInfo } from "./native.js";
import { decodeEntries, type Entry } from "./rows.js";
import { BatchEncoder, type ShapeCache } from "./wire.js";
import type { ResolvedConfig } from "./config.js";

/** The bytes of `appendColumns` rows handed to the engine at once (a crossing costs ~1-2 µs). */
const BULK_BATCH_BYTES = 256 * 1024;

/** How often staged entries are handed to the engine when fewer than a batch arrive. */
const COMMIT_DELAY_MS = 50;

/** Options of `append`: an explicit timestamp in seconds. */
export interface AppendOptions {
  timestamp?: number;
}

export interface Stats extends EngineStats {
  /** Entries accepted by `append` (all of them reach the engine; none is dropped). */
  entriesAppended: number;
  /** Entries staged in JS, not yet handed to the engine. */
  entriesStaged: number;
}

export class Recorder {
  readonly #native: NativeEngine;
  readonly #encoder: BatchEncoder;
  readonly #clock = new StrictClock();
  readonly #batchSize: number;
  /** The timestamp of the latest append of any track, for `_ts: -1`. */
  #lastTimestamp: number | undefined;
  #appended = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #readOnly: boolean;
  /** Topic names by the engine's ids. */
  readonly #topics: string[] = [];
  /** Whether writes are accepted: not read-only, and neither finishing nor closed. */
  #writable: boolean;

  /** `readOnly`: an experiment opened for reading (`Experiment.open`); appends throw. */
  constructor(native: NativeEngine, config: ResolvedConfig, readOnly = false) {
    this.#native = native;
    this.#readOnly = readOnly;
    this.#writable = !readOnly;
    const handle = native.handle;
    this.#batchSize = config.trackBatchSize;
    this.#encoder = new BatchEncoder({
      commit: (buffer, length, entries, mustWait) => commitBatch(handle, buffer, length, entries, mustWait),
      defineKey: (name) => native.defineKey(name),
      defineShape: (keys, slots) => native.defineShape(keys, slots),
    });
  }

  get native(): NativeEngine {
    return this.#native;
  }

  defineTopic(topic: string): number {
    this.#assertOpen();
    const id = this.#native.defineTopic(topic);
    this.#topics[id] = topic;
    return id;
  }

  /**
   * Called before a read of `topic`'s rows in `[start, end]` (every track's when `topic` is
   * undefined): a copy of an experiment in an object store fetches the segments it needs.
   */
  beforeRead: ((topic: string | undefined, start: number, end: number) => Promise<void>) | undefined;

  #assertOpen(): void {
    if (this.#closed) throw dashError("ERR_DASH_CLOSED", "the experiment is finished; start a new one to record more");
  }

  /** `owner` names what is being written (a topic or metric name), for error messages. */
  #timestamp(value: unknown, owner: string, source: string): number {
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw dashTypeError("ERR_DASH_INVALID_TIMESTAMP", `"${owner}": ${source} must be a finite number of seconds, got ${describe(value)}`);
    }
    return value;
  }

  #resolveTimestamp(owner: string, data: Record<string, unknown>, options: unknown): number {
    if (options !== undefined && options !== null) {
      if (typeof options === "number") return this.#timestamp(options, owner, "timestamp");
      if (typeof options !== "object") {
        throw dashTypeError(
          "ERR_DASH_INVALID_ARGUMENT",
          `"${owner}": append options must be an object or a timestamp number, got ${describe(options)}`,
        );
      }
      const explicit = (options as AppendOptions).timestamp;
      if (explicit !== undefined) return this.#timestamp(explicit, owner, "options.timestamp");
    }
    const inline = data._ts;
    if (inline === undefined) return this.#clock.now();
    if (inline === -1) return this.#lastTimestamp ?? this.#clock.now();
    return this.#timestamp(inline, owner, "_ts");
  }

  #refuseWrite(what: string): never {
    this.#assertOpen();
    if (!this.#readOnly)
      throw dashError(
        "ERR_DASH_CLOSED",
        `${what}: the experiment is finishing (complete(), fail() or cancel() was called); start a new one to record more`,
      );
    throw dashError("ERR_DASH_READ_ONLY", `${what}: the experiment was opened for reading; start() a new Experiment to write`);
  }

  #assertWritable(what: string): void {
    if (!this.#writable) this.#refuseWrite(what);
  }

  /**
   * The timestamp of a metric point (same rules as track appends) — it becomes the experiment's
   * last timestamp, so `_ts: -1` shares it between metrics and tracks.
   */
  timestampFor(name: string, data: Record<string, unknown>): number {
    this.#assertWritable(`metric "${name}"`);
    const timestamp = this.#resolveTimestamp(name, data, undefined);
    this.#lastTimestamp = timestamp;
    return timestamp;
  }

  /**
   * The engine, for a write of `what` (a log line, a metric point, a file, parameters): throws
   * `ERR_DASH_CLOSED` / `ERR_DASH_READ_ONLY` when writes are refused.
   */
  writer(what: string): NativeEngine {
    this.#assertWritable(what);
    return this.#native;
  }

  /** The engine, for a read: throws `ERR_DASH_CLOSED` once the experiment is closed. */
  reader(): NativeEngine {
    this.#assertOpen();
    return this.#native;
  }

  append(topic: number, name: string, data: Record<string, unknown>, options: unknown, shape: ShapeCache): void {
    // One check; the message is only built when it is needed.
    if (!this.#writable) this.#refuseWrite(`track "${name}"`);
    const timestamp = this.#resolveTimestamp(name, data, options);
    this.#encoder.entry(topic, timestamp, data, shape);
    this.#staged(timestamp);
  }

  /**
   * Rows `from` to `to` of number `columns` named `keys` (`appendColumns`), written straight into
   * the batch in the topic's learned numeric shape for these keys, as that many `append` calls
   * would write them (automatic timestamps: consecutive doubles from the clock's next one).
   * Returns the first row not written: `to`, or a row whose timestamp is not a finite number (for
   * the caller to append on its own, where it is automatic or an error), or -1 if the topic has no
   * such shape (then the caller appends row by row).
   */
  appendNumberRows(
    topic: number,
    name: string,
    keys: string[],
    columns: ArrayLike<number>[],
    timestamps: ArrayLike<unknown> | undefined,
    from: number,
    to: number,
    shape: ShapeCache,
  ): number {
    if (!this.#writable) this.#refuseWrite(`track "${name}"`);
    const numeric = this.#encoder.numberShape(keys, shape);
    if (numeric === undefined) return -1;
    let row = from;
    while (row < to) {
      // A batch at a time (backpressure applies between batches: a throw leaves the rows before
      // appended, the rest not), of about BULK_BATCH_BYTES.
      const batch = Math.max(this.#batchSize, Math.floor(BULK_BATCH_BYTES / numeric.bytes));
      if (this.#encoder.pendingEntries >= batch) this.commit();
      let end = Math.min(to, row + batch - this.#encoder.pendingEntries);
      if (timestamps !== undefined) {
        for (let r = row; r < end; r++) {
          const timestamp = timestamps[r];
          if (typeof timestamp !== "number" || !Number.isFinite(timestamp)) end = r;
        }
        if (end === row) break;
      }
      const given = timestamps as ArrayLike<number> | undefined; // every one in [row, end) checked
      const last = this.#encoder.numberRows(topic, numeric, columns, given, given === undefined ? this.#clock.now() : 0, row, end);
      if (given === undefined) this.#clock.passed(last);
      this.#lastTimestamp = last;
      this.#appended += end - row;
      row = end;
    }
    this.#scheduleCommit();
    return row;
  }

  /** After an entry is staged: hands the batch over when full, else makes sure it goes soon. */
  #staged(timestamp: number): void {
    if (this.#encoder.pendingEntries >= this.#batchSize) {
      try {
        this.commit();
      } catch (error) {
        // The writer is behind (or gone): this entry is not recorded (the earlier ones stay
        // staged for the next commit), so a caller that retries it records it once.
        this.#encoder.undoLastEntry();
        throw error;
      }
    } else if (this.#timer === undefined) {
      this.#scheduleCommit();
    }
    this.#lastTimestamp = timestamp;
    this.#appended++;
  }

  /** Makes sure staged entries are handed over soon, if any are and no commit is scheduled. */
  #scheduleCommit(): void {
    if (this.#timer === undefined && this.#encoder.pendingEntries > 0) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        if (this.#closed) return;
        try {
          this.commit();
        } catch {
          // The entries stay staged; the failure (writer behind or gone) surfaces at the next
          // append, flush or close, which commit them again.
        }
      }, COMMIT_DELAY_MS);
      this.#timer.unref();
    }
  }

  /** Entries appended so far (each track append, each `appendColumns` row). */
  get appended(): number {
    return this.#appended;
  }

  /** Hands staged entries to the engine; `mustWait` for flushes, reads and close. */
  commit(mustWait = false): void {
    this.#encoder.commit(mustWait);
  }

  /** Resolves when everything appended before the call is durable. */
  async flush(): Promise<void> {
    this.#assertOpen();
    this.commit(true);
    await this.#native.flush();
  }

  /** Rows of `topic` in `[start, end]`, seeing every append made before the call. */
  async readEntries(topic: number, start: number, end: number, columns?: string[]): Promise<Entry[]> {
    return decodeEntries(await this.readBytes(topic, { start, end, columns, format: "entries" }));
  }

  /** Rows of `topic` as `request` selects them, in an engine format (wire entries or columns, JSON lines, Parquet, Arrow IPC). */
  async readBytes(topic: number, request: ReadRequest): Promise<Buffer> {
    this.#assertOpen();
    this.commit(true);
    await this.beforeRead?.(this.#topics[topic], request.start, request.end);
    return this.#native.read(topic, request);
  }

  /** Every track on disk, after making what was appended durable. */
  async listTracks(): Promise<TrackInfo[]> {
    this.#assertOpen();
    this.commit(true);
    return this.#native.listTracks();
  }

  /** Writes the ml-dash `data.jsonl` of every track, or only of `topic`. */
  async exportMlDash(topic?: string): Promise<void> {
    this.#assertOpen();
    this.commit(true);
    await this.beforeRead?.(topic, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY);
    await this.#native.exportMlDash(topic);
  }

  stats(): Stats {
    return { ...this.#native.stats(), entriesAppended: this.#appended, entriesStaged: this.#encoder.pendingEntries };
  }

  /**
   * From now on writes throw `ERR_DASH_CLOSED`: the experiment is finishing, and what it holds is
   * what was written before (reads and flushes still work until it closes).
   */
  refuseWrites(): void {
    this.#writable = false;
  }

  #stop(): void {
    this.commit(true);
    this.#writable = false;
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Seals everything and stops the engine. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#stop();
    await this.#native.close();
  }

  /** `close` for process exit, where only synchronous work runs. */
  closeSync(): void {
    if (this.#closed) return;
    this.#stop();
    this.#native.closeSync();
  }
}
