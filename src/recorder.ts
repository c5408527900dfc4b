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
import { NativeEngine, type EngineStats } from "./native.js";
import { BatchEncoder, decodeRows, type Entry, type ShapeCache } from "./wire.js";
import type { ResolvedConfig } from "./config.js";

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

  constructor(native: NativeEngine, config: ResolvedConfig) {
    this.#native = native;
    this.#batchSize = config.trackBatchSize;
    this.#encoder = new BatchEncoder({
      commit: (batch, entries) => native.commit(batch, entries),
      defineKey: (name) => native.defineKey(name),
      defineShape: (keys) => native.defineShape(keys),
    });
  }

  get native(): NativeEngine {
    return this.#native;
  }

  defineTopic(topic: string): number {
    this.#assertOpen();
    return this.#native.defineTopic(topic);
  }

  #assertOpen(): void {
    if (this.#closed) throw dashError("ERR_DASH_CLOSED", "the experiment is finished; start a new one to record more");
  }

  #timestamp(value: unknown, topic: string, source: string): number {
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw dashTypeError(
        "ERR_DASH_INVALID_TIMESTAMP",
        `track "${topic}": ${source} must be a finite number of seconds, got ${describe(value)}`,
      );
    }
    return value;
  }

  #resolveTimestamp(topic: string, data: Record<string, unknown> | undefined, options: unknown): number {
    if (options !== undefined && options !== null) {
      if (typeof options === "number") return this.#timestamp(options, topic, "timestamp");
      if (typeof options !== "object") {
        throw dashTypeError(
          "ERR_DASH_INVALID_ARGUMENT",
          `track "${topic}": append options must be an object or a timestamp number, got ${describe(options)}`,
        );
      }
      const explicit = (options as AppendOptions).timestamp;
      if (explicit !== undefined) return this.#timestamp(explicit, topic, "options.timestamp");
    }
    const inline = data === undefined ? undefined : data._ts;
    if (inline === undefined) return this.#clock.now();
    if (inline === -1) return this.#lastTimestamp ?? this.#clock.now();
    return this.#timestamp(inline, topic, "_ts");
  }

  append(topic: number, name: string, data: Record<string, unknown> | undefined, options: unknown, shape: ShapeCache): void {
    this.#assertOpen();
    const timestamp = this.#resolveTimestamp(name, data, options);
    this.#encoder.entry(topic, timestamp, data, shape);
    this.#lastTimestamp = timestamp;
    this.#appended++;
    if (this.#encoder.pendingEntries >= this.#batchSize) {
      this.commit();
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        // A failure here (engine closed or overloaded) surfaces at the next flush or append.
        if (!this.#closed) this.commit();
      }, COMMIT_DELAY_MS);
      this.#timer.unref();
    }
  }

  /** Hands staged entries to the engine. */
  commit(): void {
    this.#encoder.commit();
  }

  /** Resolves when everything appended before the call is durable. */
  async flush(): Promise<void> {
    this.#assertOpen();
    this.commit();
    await this.#native.flush();
  }

  async read(topic: number, start: number, end: number, columns?: ReadonlySet<string>): Promise<Entry[]> {
    this.#assertOpen();
    this.commit();
    return decodeRows(await this.#native.read(topic, start, end), columns);
  }

  stats(): Stats {
    return { ...this.#native.stats(), entriesAppended: this.#appended, entriesStaged: this.#encoder.pendingEntries };
  }

  #stop(): void {
    this.commit();
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
