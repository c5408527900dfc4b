/** Experiments: the unit of recording, stored under `<dashRoot>/<prefix>/` in the ml-dash layout. */
import { join } from "node:path";
import { isoNow } from "./clock.js";
import { resolveConfig, type EngineTuning, type ResolvedConfig } from "./config.js";
import { dashError, dashRangeError, dashTypeError, describe } from "./errors.js";
import { flushOnSignals, registerForExit, unregisterForExit } from "./exit.js";
import { NativeEngine, type TrackInfo } from "./native.js";
import { showProgress } from "./progress.js";
import { Recorder, type Stats } from "./recorder.js";
import { FilesBuilder } from "./files.js";
import { logsFor, MetricBuilder, paramsFor, writeLog, writeMetric, type LogOptions, type Logs, type Params } from "./records.js";
import { BackgroundJob } from "./background.js";
import { COUNTER } from "./remote/uploader.js";
import { storedToken } from "./remote/token.js";
import { Bucket, isStoreUrl, parseStoreUrl } from "./store/bucket.js";
import { STORE_COUNTER } from "./store/job.js";
import { StoreCopy } from "./store/sync.js";
import { TrackBuilder } from "./track.js";

type RemoteStats = Record<keyof typeof COUNTER, number>;

/** Counters of remote mode (`dashUrl`). */
export interface UploadStats extends Omit<RemoteStats, "connected" | "entriesUnsent" | "filesUnsent"> {
  /** Whether the experiment exists on the server yet (the server may be down at `start()`). */
  connected: boolean;
  /** Entries appended and not on the server yet (unsealed, or sealed and not sent). */
  entriesPending: number;
  /** Files saved and not on the server yet. */
  filesPending: number;
}

/** Counters of an experiment written to an object store (`dashRoot: "s3://…"`). */
export interface PublishStats {
  /** Objects written to the store (segments, manifests, the other files). */
  objectsPublished: number;
  bytesPublished: number;
  /** Local files not in the store yet, as of the publisher's last pass. */
  objectsPending: number;
  /** Store requests that failed and were tried again. */
  publishRetries: number;
}

/** `experiment.stats()`: the engine's counters; in remote mode `upload`, on an object store `publish`. */
export interface ExperimentStats extends Stats {
  upload?: UploadStats;
  publish?: PublishStats;
}

export type { Stats } from "./recorder.js";

/** A track as `experiment.tracks.list()` reports it (the SDK's fields). */
export interface TrackSummary {
  topic: string;
  totalEntries: number;
  columns: string[];
  firstTimestamp: number | null;
  lastTimestamp: number | null;
}

export type ExperimentStatus = "RUNNING" | "COMPLETED" | "FAILED" | "CANCELLED";

export interface ExperimentOptions extends EngineTuning {
  /**
   * Where experiments live: a local directory (default `.dash`, or `ML_DASH_ROOT`), or an
   * S3-compatible object store, `s3://bucket/prefix` (endpoint, region and credentials as the AWS
   * tools take them: `AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, …). On a store the
   * engine writes a local spool (see `spoolRoot`) and publishes each sealed segment, then the
   * track's manifest, in the background.
   */
  dashRoot?: string;
  /**
   * With an object-store `dashRoot`: the local directory holding the write-ahead log and the
   * segments not yet published, and the copies readers fetch (default `DASH_INGEST_SPOOL`, or
   * `.dash-spool`).
   */
  spoolRoot?: string;
  /**
   * With an object-store `dashRoot`: seconds one writer's lease on the experiment lasts unless
   * renewed (it is renewed every third of that). Another writer is refused with `ERR_DASH_LOCKED`
   * until it lapses. Default 30.
   */
  leaseTimeout?: number;
  tags?: string[];
  description?: string;
  /**
   * An ML-Dash server (`http://localhost:3000`, or `dash-ingest serve`): the experiment is also
   * uploaded there, in the background, from the local spool under `dashRoot` (see `token`,
   * `uploadTimeout`). Default: `ML_DASH_API_URL` if set (`false` forces local mode).
   */
  dashUrl?: string | false;
  /**
   * The bearer token for `dashUrl`. Default: the one the Python SDK's login stored, in
   * `$ML_DASH_CONFIG_DIR` (or `~/.dash`) `tokens.encrypted` or `tokens.json`.
   */
  token?: string;
  /**
   * Seconds `complete()` / `fail()` / `cancel()` wait for the upload (or, on an object store, the
   * publishing) to finish before they reject with `ERR_DASH_REMOTE_TIMEOUT` (the data stays in the
   * local spool; `dash-ingest push` sends it to a server, the next start from the spool publishes
   * it to a store). Default 120.
   */
  uploadTimeout?: number;
  /**
   * Also flush on SIGTERM / SIGINT (then end the process by that signal). Off by default: Node's
   * default for those signals ends the process at once, and then rows not yet flushed are lost.
   */
  flushOnSignals?: boolean;
}

/** `experiment.tracks(topic)` (same as `track(topic)`) plus whole-experiment operations. */
export interface Tracks {
  (topic: string): TrackBuilder;
  /** Resolves when everything appended before the call is durable. */
  flush(): Promise<void>;
  /**
   * Every track of the experiment on disk (including earlier runs'), sorted by topic. `filter`:
   * an exact topic, or `"robot/*"` for the topics under `robot/` (not `robotics/…`).
   */
  list(filter?: string): Promise<TrackSummary[]>;
}

function matchesFilter(topic: string, filter: string | undefined): boolean {
  if (filter === undefined || filter === "*") return true;
  if (filter.endsWith("/*")) return topic.startsWith(filter.slice(0, -1));
  return topic === filter;
}

function summary(info: TrackInfo): TrackSummary {
  return {
    topic: info.topic,
    totalEntries: info.totalEntries,
    columns: info.columns,
    firstTimestamp: info.firstTimestamp ?? null,
    lastTimestamp: info.lastTimestamp ?? null,
  };
}

/**
 * The SDK's split of a prefix `owner/project[/…]/name`: the project is the second part (so `a/b` is
 * owner `a`, project and name `b`), the name the last; a one-part prefix is its own project.
 */
function nameAndProject(prefix: string): { name: string; project: string } {
  const parts = prefix.split("/").filter((p) => p.length > 0);
  const name = parts[parts.length - 1] ?? prefix;
  const project = (parts.length >= 2 ? parts[1] : parts[0]) ?? name;
  return { name, project };
}

/** Default `uploadTimeout`, seconds. */
const DEFAULT_UPLOAD_TIMEOUT_SECONDS = 120;

/** Seconds, validated: a finite number >= 0 (`fallback` when absent). */
function seconds(name: string, value: unknown, fallback: number): number {
  const chosen = value ?? fallback;
  if (typeof chosen !== "number" || !Number.isFinite(chosen) || chosen < 0) {
    throw dashRangeError("ERR_DASH_INVALID_ARGUMENT", `${name} must be a number of seconds >= 0, got ${describe(chosen)}`);
  }
  return chosen;
}

/** Validates the options of remote mode; `undefined` in local mode. */
function remoteOptions(
  prefix: string,
  dashUrl: unknown,
  token: unknown,
  uploadTimeout: unknown,
): { url: string; token: string | undefined; timeoutMs: number } | undefined {
  const url = dashUrl === undefined ? process.env.ML_DASH_API_URL || undefined : dashUrl;
  if (url === undefined || url === false) {
    if (token !== undefined) throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", "token is an option of remote mode: pass dashUrl too");
    return undefined;
  }
  if (typeof url !== "string" || !/^https?:\/\/[^/]/i.test(url) || !URL.canParse(url)) {
    throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `dashUrl must be an http:// or https:// URL, got ${describe(url)}`);
  }
  if (token !== undefined && (typeof token !== "string" || token.length === 0)) {
    throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `token must be a non-empty string, got ${describe(token)}`);
  }
  const timeout = seconds("uploadTimeout", uploadTimeout, DEFAULT_UPLOAD_TIMEOUT_SECONDS);
  if (prefix.split("/").filter((p) => p.length > 0).length < 2) {
    throw dashRangeError(
      "ERR_DASH_INVALID_ARGUMENT",
      `remote mode needs a prefix "namespace/project[/…]/name" (the server files it so), got ${describe(prefix)}`,
    );
  }
  return { url, token, timeoutMs: timeout * 1000 };
}

/** An object-store `dashRoot`: where its spool is, how long a lease lasts, how long finishing may take. */
interface StoreOptions {
  url: string;
  /** The writer's local root for this store (`<spoolRoot>/<bucket>/<prefix>`). */
  spoolRoot: string;
  /** Where readers keep what they fetched (`<spoolRoot>/.read-cache/<bucket>/<prefix>`). */
  cacheRoot: string;
  /** Where a superseded local copy is moved (`<spoolRoot>/.superseded`). */
  superseded: string;
  leaseMs: number;
  timeoutMs: number;
}

function storeOptions(dashRoot: string, options: ExperimentOptions): StoreOptions | undefined {
  if (!isStoreUrl(dashRoot)) {
    if (options.spoolRoot !== undefined || options.leaseTimeout !== undefined) {
      throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", "spoolRoot and leaseTimeout are options of an object-store dashRoot (s3://…)");
    }
    return undefined;
  }
  const location = parseStoreUrl(dashRoot);
  if (options.dashUrl !== undefined && options.dashUrl !== false) {
    throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", "dashUrl and an object-store dashRoot exclude each other: choose one");
  }
  const spoolRoot = options.spoolRoot ?? (process.env.DASH_INGEST_SPOOL || ".dash-spool");
  if (typeof spoolRoot !== "string" || spoolRoot.length === 0) {
    throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `spoolRoot must be a non-empty string, got ${describe(spoolRoot)}`);
  }
  const leaseSeconds = seconds("leaseTimeout", options.leaseTimeout, DEFAULT_LEASE_SECONDS);
  if (leaseSeconds < 1) throw dashRangeError("ERR_DASH_INVALID_ARGUMENT", `leaseTimeout must be at least 1 second, got ${leaseSeconds}`);
  const where = [location.bucket, ...(location.root === "" ? [] : location.root.split("/"))];
  return {
    url: dashRoot,
    spoolRoot: join(spoolRoot, ...where),
    cacheRoot: join(spoolRoot, ".read-cache", ...where),
    superseded: join(spoolRoot, ".superseded"),
    leaseMs: leaseSeconds * 1000,
    timeoutMs: seconds("uploadTimeout", options.uploadTimeout, DEFAULT_UPLOAD_TIMEOUT_SECONDS) * 1000,
  };
}

/** Default `leaseTimeout`, seconds. */
const DEFAULT_LEASE_SECONDS = 30;

function uploadStats(engine: Stats, remote: RemoteStats): UploadStats {
  const { connected, entriesUnsent, filesUnsent, ...counters } = remote;
  const unsealed = Math.max(0, engine.entriesAppended - engine.entriesDurable - engine.entriesLost - engine.entriesDropped);
  return { ...counters, connected: connected === 1, entriesPending: unsealed + entriesUnsent, filesPending: filesUnsent };
}

/**
 * Records a log line a client sent (with its own ISO time; it may arrive twice: stored once), for
 * the server; not part of the package's API.
 */
export let clientLog: (experiment: Experiment, at: string, message: string, options: LogOptions) => void;

/** Records a metric point a client sent (it may arrive twice: stored once), for the server. */
export let clientMetric: (experiment: Experiment, name: string, point: Record<string, unknown>) => void;

/**
 * Commits the track entries of an ML-Dash `append_batch` body (JSON bytes, parsed by the engine)
 * to `topic`; resolves with how many there were once they are safe from a crash of the process
 * (in the write-ahead log). For the server; not part of the package's API.
 */
export let clientEntries: (experiment: Experiment, topic: string, body: Uint8Array) => Promise<number>;

/** The directory the experiment's engine reads: `dashRoot`, or on a store its spool or read cache. */
export let localRoot: (experiment: Experiment) => string;

/**
 * Seals everything and stops the engine, leaving the status as it is (a client's run goes on; a
 * later request opens the experiment again). For the server; not part of the package's API.
 */
export let release: (experiment: Experiment) => Promise<void>;

/**
 * One experiment. Create it, `start()` it (or use `run(fn)`), append to its tracks, then
 * `complete()`, `fail()` or `cancel()`: each makes everything durable and records the status.
 * A process that exits without finishing still has its data flushed (status stays `RUNNING`).
 */
export class Experiment {
  readonly prefix: string;
  readonly dashRoot: string;
  readonly tags: string[] | undefined;
  readonly description: string | undefined;
  readonly tracks: Tracks;
  /** `experiment.logs.info(message, metadata?)` and the other levels (see `log`). */
  readonly logs: Logs;
  /** Flattened, merged, versioned parameters (`parameters.json`). */
  readonly params: Params;
  readonly #config: ResolvedConfig;
  readonly #metrics = new Map<string, MetricBuilder>();
  readonly #files = new Map<string, FilesBuilder>();
  #recorder: Recorder | undefined;
  readonly #builders = new Map<string, TrackBuilder>();
  #finishing: Promise<void> | undefined;
  #status: ExperimentStatus | undefined;
  #readOnly = false;
  readonly #flushOnSignals: boolean;
  /** Remote mode: the server's URL and where the token comes from. */
  readonly #remoteOptions: { url: string; token: string | undefined; timeoutMs: number } | undefined;
  #remote: BackgroundJob<keyof typeof COUNTER> | undefined;
  /** On an object store: where, and the publisher once started. */
  readonly #storeOptions: StoreOptions | undefined;
  #store: BackgroundJob<keyof typeof STORE_COUNTER> | undefined;
  /** A reader's client of the store (`Experiment.open` on an object store). */
  #bucket: Bucket | undefined;
  /** The directory the engine writes or reads: `dashRoot`, or on a store its spool or read cache. */
  #localRoot: string;

  constructor(prefix: string, options: ExperimentOptions = {}) {
    if (typeof prefix !== "string") {
      throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `experiment prefix must be a string, got ${describe(prefix)}`);
    }
    this.#config = resolveConfig(options);
    const { dashRoot = process.env.ML_DASH_ROOT ?? ".dash", tags, description, dashUrl } = options;
    if (typeof dashRoot !== "string" || dashRoot.length === 0) {
      throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `dashRoot must be a non-empty string, got ${describe(dashRoot)}`);
    }
    if (tags !== undefined && (!Array.isArray(tags) || !tags.every((t) => typeof t === "string"))) {
      throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", "tags must be an array of strings");
    }
    if (description !== undefined && typeof description !== "string") {
      throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `description must be a string, got ${describe(description)}`);
    }
    this.#storeOptions = storeOptions(dashRoot, options);
    this.#remoteOptions =
      this.#storeOptions === undefined ? remoteOptions(prefix, dashUrl, options.token, options.uploadTimeout) : undefined;
    this.#localRoot = this.#storeOptions?.spoolRoot ?? dashRoot;
    if (options.flushOnSignals !== undefined && typeof options.flushOnSignals !== "boolean") {
      throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `flushOnSignals must be a boolean, got ${describe(options.flushOnSignals)}`);
    }
    this.#flushOnSignals = options.flushOnSignals === true;
    this.prefix = prefix;
    this.dashRoot = dashRoot;
    this.tags = tags;
    this.description = description;
    this.tracks = Object.assign((topic: string) => this.track(topic), {
      flush: () => this.flush(),
      list: (filter?: string) => this.#listTracks(filter),
    });
    this.logs = logsFor(() => this.#started());
    this.params = paramsFor(() => this.#started());
  }

  /** The experiment directory, once started. */
  get dir(): string | undefined {
    return this.#recorder?.native.dir;
  }

  get status(): ExperimentStatus | undefined {
    return this.#status;
  }

  #started(): Recorder {
    if (this.#recorder === undefined) {
      throw dashError("ERR_DASH_NOT_STARTED", `experiment "${this.prefix}" is not started; call start() or run()`);
    }
    return this.#recorder;
  }

  /**
   * Opens (or continues) the experiment on disk and marks it `RUNNING`. Resolves to the
   * experiment, so `await using e = await new Experiment("p/x").start()` works.
   */
  async start(): Promise<this> {
    if (this.#recorder !== undefined) {
      if (this.#readOnly) {
        throw dashError("ERR_DASH_READ_ONLY", `experiment "${this.prefix}" was opened for reading; create a new Experiment to continue it`);
      }
      return this;
    }
    if (this.#storeOptions !== undefined) this.#store = await this.#startStore(this.#storeOptions);
    let native: NativeEngine;
    try {
      native = this.#native();
    } catch (error) {
      await this.#store?.terminate();
      throw error;
    }
    const { name, project } = nameAndProject(this.prefix);
    const fields: Record<string, unknown> = { name, project, prefix: this.prefix, status: "RUNNING", engine: "dash-ingest" };
    if (this.description !== undefined) fields.description = this.description;
    if (this.tags !== undefined) fields.tags = this.tags;
    const defaults = { description: null, tags: [], bindrs: [], metadata: null, write_protected: false };
    try {
      native.updateExperiment(fields, defaults);
    } catch (error) {
      native.closeSync(); // releases the lock: a later start may succeed
      await this.#store?.terminate();
      throw error;
    }
    const recorder = new Recorder(native, this.#config);
    if (this.#remoteOptions !== undefined) {
      try {
        this.#remote = await this.#startRemote(native.dir, this.#remoteOptions);
      } catch (error) {
        await recorder.close().catch(() => undefined);
        throw error;
      }
    }
    this.#recorder = recorder;
    this.#status = "RUNNING";
    registerForExit(this);
    if (this.#flushOnSignals) flushOnSignals();
    return this;
  }

  /** Takes the experiment's lease in the store (fetching it into the spool if the store is newer), then publishes. */
  #startStore(options: StoreOptions): Promise<BackgroundJob<keyof typeof STORE_COUNTER>> {
    const target = {
      url: options.url,
      prefix: this.prefix,
      spool: options.spoolRoot,
      superseded: options.superseded,
      leaseMs: options.leaseMs,
      patienceMs: options.timeoutMs,
    };
    return BackgroundJob.start(join(__dirname, "store"), "worker", { target }, STORE_COUNTER);
  }

  #startRemote(dir: string, options: { url: string; token: string | undefined }): Promise<BackgroundJob<keyof typeof COUNTER>> {
    const configDir = process.env.ML_DASH_CONFIG_DIR || "~/.dash";
    const token = options.token ?? storedToken();
    const source =
      options.token !== undefined
        ? "the token option"
        : token !== undefined
          ? `the SDK's token store in ${configDir}`
          : `nowhere: no token option and none stored in ${configDir} (tokens.json)`;
    const target = { dir, prefix: this.prefix, url: options.url, token, description: this.description, tags: this.tags };
    const hint = (code: string) => (code === "ERR_DASH_UNAUTHORIZED" ? ` (the token came from ${source})` : "");
    return BackgroundJob.start(join(__dirname, "remote"), "worker", { target }, COUNTER, hint);
  }

  /** The builder for `topic` (cached: the same object for the same topic). */
  track(topic: string): TrackBuilder {
    if (typeof topic !== "string") {
      throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `topic must be a string, got ${describe(topic)}`);
    }
    let builder = this.#builders.get(topic);
    if (builder === undefined) {
      builder = new TrackBuilder(this.#started(), topic);
      this.#builders.set(topic, builder);
    }
    return builder;
  }

  /**
   * Appends a line to `logs/logs.jsonl` (`sequenceNumber`, ISO `timestamp`, `level`, `message`,
   * `metadata`), buffered like track entries and durable at the next flush. Levels: debug, info
   * (default), warn, error, fatal.
   */
  log(message: string, options?: LogOptions): void {
    writeLog(this.#started(), message, options);
  }

  /** The builder of metric `name` (cached): `log(data)`, `read({ startIndex, limit })`. */
  metrics(name: string): MetricBuilder {
    if (typeof name !== "string") {
      throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `metric name must be a string, got ${describe(name)}`);
    }
    let builder = this.#metrics.get(name);
    if (builder === undefined) {
      builder = new MetricBuilder(this.#started(), name);
      this.#metrics.set(name, builder);
    }
    return builder;
  }

  /**
   * The files under `prefix` (cached): `saveImage(image, { to, quality })`, `save(content, { to })`,
   * `list(glob?)`, `read(name)`.
   */
  files(prefix = ""): FilesBuilder {
    if (typeof prefix !== "string") {
      throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `files prefix must be a string, got ${describe(prefix)}`);
    }
    let builder = this.#files.get(prefix);
    if (builder === undefined) {
      const { project } = nameAndProject(this.prefix);
      builder = new FilesBuilder(this.#started(), prefix, `${project}/${this.prefix}`);
      this.#files.set(prefix, builder);
    }
    return builder;
  }

  /**
   * Resolves when everything appended before the call is durable and readable by others (in
   * remote mode, `stats().upload` then counts it as pending, and the uploader sends it at once, in
   * the background).
   */
  async flush(): Promise<void> {
    await this.#started().flush();
    await this.#remote?.wake();
    await this.#store?.wake();
  }

  async #listTracks(filter?: string): Promise<TrackSummary[]> {
    if (filter !== undefined && typeof filter !== "string") {
      throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `tracks.list: filter must be a string, got ${describe(filter)}`);
    }
    const tracks = await this.#started().listTracks();
    return tracks
      .filter((t) => matchesFilter(t.topic, filter))
      .map(summary)
      .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
  }

  /**
   * Writes, for every track, the ml-dash SDK's own `tracks/<topic>/data.jsonl` (and keeps the
   * SDK's `metadata.json` fields current), so the Python SDK reads the same entries. The files are a
   * snapshot: run it again after appending more.
   */
  exportMlDash(options: { topic?: string } = {}): Promise<void> {
    if (options.topic !== undefined && typeof options.topic !== "string") {
      throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `exportMlDash: topic must be a string, got ${describe(options.topic)}`);
    }
    return this.#started().exportMlDash(options.topic);
  }

  /**
   * Opens an experiment already on disk for reading — written by this engine or by the Python
   * ml-dash SDK: tracks read through the same `read()` / `slice()` API. Appends throw
   * `ERR_DASH_READ_ONLY`; a missing experiment rejects with `ERR_DASH_NOT_FOUND`. Release it with
   * `close()` (or `await using`).
   */
  static async open(prefix: string, options: Pick<ExperimentOptions, "dashRoot" | "spoolRoot"> = {}): Promise<Experiment> {
    const experiment = new Experiment(prefix, { dashRoot: options.dashRoot, spoolRoot: options.spoolRoot });
    const store = experiment.#storeOptions;
    let copy: StoreCopy | undefined;
    if (store !== undefined) {
      // Readers read a local copy: the manifests and the rest at once (only what changed since the
      // last open), each segment the first time a read needs its time range.
      experiment.#localRoot = store.cacheRoot;
      experiment.#bucket = new Bucket(parseStoreUrl(store.url));
      copy = new StoreCopy(experiment.#bucket, experiment.#bucket.key(`${prefix}/`), join(store.cacheRoot, prefix));
      try {
        await copy.refresh({ segments: false, mirror: true });
      } catch (error) {
        experiment.#bucket.destroy();
        throw error;
      }
    }
    let native: NativeEngine;
    try {
      native = experiment.#native({ mustExist: true });
    } catch (error) {
      experiment.#bucket?.destroy();
      throw error;
    }
    experiment.#recorder = new Recorder(native, experiment.#config, true);
    if (copy !== undefined) experiment.#recorder.beforeRead = copy.fetchSegments.bind(copy);
    experiment.#readOnly = true;
    registerForExit(experiment);
    return experiment;
  }

  #native(extra: { mustExist?: boolean } = {}): NativeEngine {
    return new NativeEngine({
      dashRoot: this.#localRoot,
      prefix: this.prefix,
      flushIntervalMs: this.#config.flushIntervalSeconds * 1000,
      maxQueueBytes: this.#config.maxQueueBytes,
      maxUnsealedBytes: this.#config.maxUnsealedBytes,
      overload: this.#config.overload,
      backpressureTimeoutMs:
        this.#config.backpressureTimeoutSeconds === undefined ? undefined : this.#config.backpressureTimeoutSeconds * 1000,
      ...extra,
    });
  }

  /**
   * Releases the experiment: for a running one, the same as `complete()`; for one opened with
   * `Experiment.open`, stops its engine.
   */
  async close(): Promise<void> {
    if (this.#recorder === undefined) return;
    if (!this.#readOnly) return this.complete();
    unregisterForExit(this);
    await this.#recorder.close();
    this.#bucket?.destroy();
  }

  /** Counters: entries appended, durable, lost; segments and bytes written; in remote mode, `upload`. */
  stats(): ExperimentStats {
    const stats: ExperimentStats = this.#started().stats();
    if (this.#remote !== undefined) stats.upload = uploadStats(stats, this.#remote.stats());
    if (this.#store !== undefined) stats.publish = this.#store.stats();
    return stats;
  }

  /**
   * Runs `fn` inside start() / complete(). If `fn` throws, the experiment is marked `FAILED`
   * (its data kept) and the error rethrown.
   */
  async run<T>(fn: (experiment: this) => T | Promise<T>): Promise<T> {
    await this.start();
    let result: T;
    try {
      result = await fn(this);
    } catch (error) {
      await this.fail().catch(() => undefined);
      throw error;
    }
    await this.complete();
    return result;
  }

  complete(): Promise<void> {
    return this.#finish("COMPLETED");
  }

  fail(): Promise<void> {
    return this.#finish("FAILED");
  }

  cancel(): Promise<void> {
    return this.#finish("CANCELLED");
  }

  /** `close()`, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Flushes, records `status`, stops the engine. Idempotent: later calls share the first. */
  #finish(status: ExperimentStatus): Promise<void> {
    if (this.#finishing !== undefined) return this.#finishing;
    const recorder = this.#started();
    if (this.#readOnly) {
      return Promise.reject(dashError("ERR_DASH_READ_ONLY", `experiment "${this.prefix}" was opened for reading; use close()`));
    }
    recorder.refuseWrites();
    this.#finishing = (async () => {
      let failure: unknown;
      const done = showProgress(`dash-ingest: writing ${this.prefix}`, () => {
        const stats = recorder.stats();
        return { done: stats.entriesDurable + stats.entriesLost, total: stats.entriesAppended };
      });
      try {
        await recorder.flush();
      } catch (error) {
        failure = error;
      } finally {
        done();
      }
      try {
        recorder.native.updateExperiment({ status, finished_at: isoNow() }, {});
        this.#status = status;
      } catch (error) {
        failure ??= error;
      }
      if (this.#remote !== undefined && failure === undefined) {
        const remote = this.#remote;
        const uploaded = showProgress(`dash-ingest: uploading ${this.prefix} to ${this.#remoteOptions?.url}`, () => {
          const counters = remote.stats();
          return { done: counters.entriesUploaded, total: counters.entriesUploaded + counters.entriesUnsent };
        });
        try {
          await remote.finish(status, (this.#remoteOptions as { timeoutMs: number }).timeoutMs);
        } catch (error) {
          failure = error;
        } finally {
          uploaded();
        }
      } else {
        await this.#remote?.terminate();
      }
      try {
        await recorder.close();
      } catch (error) {
        failure ??= error;
      }
      if (this.#store !== undefined) {
        const store = this.#store;
        const published = showProgress(`dash-ingest: publishing ${this.prefix} to ${this.dashRoot}`, () => {
          const counters = store.stats();
          return { done: counters.objectsPublished, total: counters.objectsPublished + counters.objectsPending };
        });
        try {
          await store.finish(status, (this.#storeOptions as StoreOptions).timeoutMs);
        } catch (error) {
          failure ??= error;
        } finally {
          published();
        }
      }
      unregisterForExit(this);
      if (failure !== undefined) throw failure;
    })();
    return this.#finishing;
  }

  /** @internal Called by the exit hook: seal everything synchronously. */
  closeOnExit(): void {
    this.#recorder?.closeSync();
  }

  static {
    clientLog = (experiment, at, message, options) => writeLog(experiment.#started(), message, options, at, true);
    clientMetric = (experiment, name, point) => writeMetric(experiment.#started(), name, point, true);
    clientEntries = (experiment, topic, body) => {
      const recorder = experiment.#started();
      const id = recorder.defineTopic(topic);
      recorder.commit(true); // entries staged before these stay before them
      return recorder.writer(`track "${topic}"`).appendJsonEntries(id, body);
    };
    release = async (experiment) => {
      unregisterForExit(experiment);
      await experiment.#recorder?.close();
      // On an object store: everything published, and the lease given up for the next writer.
      await experiment.#store?.finish("RUNNING", (experiment.#storeOptions as StoreOptions).timeoutMs);
    };
    localRoot = (experiment) => experiment.#localRoot;
  }
}
