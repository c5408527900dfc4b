/**
 * The uploader of remote mode: sends what an experiment's local spool holds to an ML-Dash server,
 * as the Python SDK's requests (`remote-contract.md`), and resumes from its durable cursor.
 *
 * Three lanes run side by side, so that no kind of data waits for another: tracks (the sealed
 * segments, in bodies of at most 10,000 entries); logs, metrics and parameters; files (four at
 * once). Connection errors, 5xx and 429 are retried with backoff (at least the server's
 * `Retry-After`), forever while the run goes on and until the deadline once finishing; a refusal
 * (another 4xx) leaves the data pending, is reported, and is tried again later. What the engine
 * seals is picked up within `POLL_MS`.
 *
 * Exactly once where the cursor can say so: a crash between the server's acknowledgement and the
 * cursor's save (coalesced within 100 ms for track bodies and files; at once for log, metric and
 * parameter batches) sends that request again. Track entries merge by timestamp on the server, so
 * for them that is harmless; `dash-ingest serve` also stores a repeated log line, metric point or
 * file once.
 */
import {
  type RemoteTrack,
  remoteFileBytes,
  remoteFiles,
  remoteMetricNames,
  remoteParametersBody,
  remoteRecordBatch,
  remoteTrackBodies,
  remoteTracks,
  type FileRecord,
} from "../native.js";
import { type DashErrorCode, dashError } from "../errors.js";
import { formData } from "../multipart.js";
import { backoffMs, type Id, idOf, jsonBody, quote, RemoteClient, RemoteError, type RemoteRequest } from "./client.js";
import { Cursor, type TrackCursor } from "./cursor.js";

/** What to upload, and where. */
export interface UploadTarget {
  /** The experiment directory (the local spool). */
  dir: string;
  /** `namespace/project[/folders…]/name`. */
  prefix: string;
  url: string;
  token: string | undefined;
  description?: string | undefined;
  tags?: string[] | undefined;
}

/** Counters the uploader keeps in shared memory, so `stats()` reads them without a message. */
export const COUNTER = {
  entriesUploaded: 0,
  entriesUnsent: 1,
  filesUploaded: 2,
  filesUnsent: 3,
  logLinesUploaded: 4,
  metricPointsUploaded: 5,
  uploadRequests: 6,
  uploadRetries: 7,
  unreadableLines: 8,
  connected: 9,
} as const;
export const COUNTER_SLOTS = 10;

const TRACK_BODY_ROWS = 10_000;
/** Track bodies in flight at once: the client builds the next while the server takes the last. */
const TRACK_REQUESTS = 4;
/** The SDK's batch sizes: a server accepts at least these. */
const LOG_BATCH = 100;
const METRIC_BATCH = 1000;
const FILE_WORKERS = 4;
const POLL_MS = 250;
/** How long a lane waits after a refusal before it tries that data again. */
const REFUSED_RETRY_MS = 30_000;

/** The server's ids of the experiment. */
interface Opened {
  namespace: string;
  experimentId: Id;
  nodeId: Id;
}

/** Thrown inside lanes when the uploader stops or its deadline passes. */
class Interrupted extends Error {}

const GET_PROJECT = `query GetProject($namespace: String!) {
  namespace(slug: $namespace) {
    projects {
      id
      slug
    }
  }
}`;
const GET_EXPERIMENT_NODE = `query GetExperimentNode($experimentId: ID!) {
  experimentNode(experimentId: $experimentId) {
    id
  }
}`;
const GET_EXPERIMENT_PROJECT = `query GetExperimentProject($experimentId: ID!) {
  experimentById(id: $experimentId) {
    projectId
  }
}`;

type Json = Record<string, unknown> | undefined;
const field = (value: unknown, key: string): unknown => (value as Json)?.[key];

function refusal(message: string): RemoteError {
  return new RemoteError(message, { retryable: false });
}

export class Uploader {
  readonly #target: UploadTarget;
  readonly #client: RemoteClient;
  readonly #cursor: Cursor;
  readonly #counters: Float64Array<ArrayBufferLike>;
  #opened: Opened | undefined;
  #stopped = false;
  #deadline = Number.POSITIVE_INFINITY;
  #finishing = false;
  readonly #wakers = new Set<() => void>();
  /** Per lane, the last refusal and when it came, until that lane succeeds again. */
  readonly #problems = new Map<string, { message: string; code: DashErrorCode; at: number }>();
  #lastRetry: string | undefined;
  #projectId: Promise<Id> | undefined;
  readonly #folders = new Map<string, Promise<Id>>();
  readonly #lanes: Promise<void>[] = [];
  /** Lanes that found nothing to send in a pass begun after `finish` was called. */
  readonly #drained = new Set<string>();

  private constructor(target: UploadTarget, cursor: Cursor, counters: Float64Array<ArrayBufferLike>) {
    this.#target = target;
    this.#client = new RemoteClient(target.url, target.token);
    this.#cursor = cursor;
    this.#counters = counters;
  }

  static async create(target: UploadTarget, counters: Float64Array<ArrayBufferLike> = new Float64Array(COUNTER_SLOTS)): Promise<Uploader> {
    return new Uploader(target, await Cursor.load(target.dir, target.url), counters);
  }

  #add(counter: keyof typeof COUNTER, n = 1): void {
    this.#counters[COUNTER[counter]] = (this.#counters[COUNTER[counter]] ?? 0) + n;
  }

  #set(counter: keyof typeof COUNTER, n: number): void {
    this.#counters[COUNTER[counter]] = n;
  }

  /** Waits `ms` (cut short by `wake`, `stop` and the deadline); throws once stopped or past it. */
  async #sleep(ms: number): Promise<void> {
    this.#check();
    const wait = Math.max(0, Math.min(ms, this.#deadline - Date.now()));
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, wait);
      this.#wakers.add(done);
    });
    this.#check();
  }

  #check(): void {
    if (this.#stopped || Date.now() >= this.#deadline) throw new Interrupted();
  }

  /** Lanes look for new data now (after a flush, say). */
  wake(): void {
    for (const waker of [...this.#wakers]) waker();
  }

  /** `attempt` (one request), repeated while its failure is transient. */
  async #retrying<T>(attempt: () => Promise<T>): Promise<T> {
    for (let n = 0; ; n++) {
      this.#check();
      this.#add("uploadRequests");
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof RemoteError) || !error.retryable) throw error;
        this.#lastRetry = error.message;
        this.#add("uploadRetries");
        await this.#sleep(backoffMs(n, error));
      }
    }
  }

  #send(request: RemoteRequest): Promise<unknown> {
    return this.#retrying(() => this.#client.send(request));
  }

  #graphql(query: string, variables: Record<string, unknown>): Promise<Record<string, unknown>> {
    return this.#retrying(() => this.#client.graphql(query, variables));
  }

  /** Records why lane `name` could not send (a refusal, or a local failure), with its code. */
  #problem(name: string, error: unknown): void {
    const { code, message } = error as { code?: unknown; message?: unknown };
    this.#problems.set(name, {
      message: typeof message === "string" ? message : String(error),
      code: typeof code === "string" ? (code as DashErrorCode) : "ERR_DASH_INTERNAL",
      at: Date.now(),
    });
  }

  /**
   * The SDK's open: the project looked up, created (with its folders) where the prefix has
   * folders, the experiment upserted. One attempt; a transient failure is a retryable error.
   */
  async #openOnce(): Promise<Opened> {
    const parts = this.#target.prefix.split("/").filter((p) => p.length > 0);
    const [namespace, project] = parts as [string, string];
    const name = (parts.length > 2 ? parts[parts.length - 1] : parts[1]) as string;
    const folders = parts.slice(2, -1);
    const post = (body: Record<string, unknown>) =>
      this.#client.send({ method: "POST", path: `/namespaces/${quote(namespace)}/nodes`, body: jsonBody(body) });
    this.#add("uploadRequests");
    const data = await this.#client.graphql(GET_PROJECT, { namespace });
    if (data.namespace === null || data.namespace === undefined) {
      throw refusal(`the server ${this.#target.url} has no namespace "${namespace}" (the first part of the prefix)`);
    }
    const projects = field(data.namespace, "projects");
    let projectId = Array.isArray(projects) ? idOf(projects.find((p) => field(p, "slug") === project)?.id) : undefined;
    if (folders.length > 0 && projectId === undefined) {
      this.#add("uploadRequests");
      projectId = idOf(field(field(await post({ type: "PROJECT", name: project, slug: project }), "project"), "id"));
    }
    let parentId: Id | "ROOT" = "ROOT";
    for (const folder of folders) {
      this.#add("uploadRequests");
      const id = idOf(field(field(await post({ type: "FOLDER", projectId, parentId, name: folder }), "node"), "id"));
      if (id === undefined) throw refusal(`the server's answer to folder "${folder}" has no node.id`);
      parentId = id;
    }
    const body: Record<string, unknown> = { type: "EXPERIMENT", name, parentId };
    if (projectId === undefined) body.projectSlug = project;
    else body.projectId = projectId;
    if (this.#target.description !== undefined) body.description = this.#target.description;
    if (this.#target.tags !== undefined) body.tags = this.#target.tags;
    this.#add("uploadRequests");
    const reply = await post(body);
    const experimentId = idOf(field(field(reply, "experiment"), "id"));
    if (experimentId === undefined) throw refusal("the server's answer to the experiment has no experiment.id");
    let nodeId = idOf(field(field(reply, "node"), "id"));
    if (nodeId === undefined) {
      this.#add("uploadRequests");
      nodeId = idOf(field((await this.#client.graphql(GET_EXPERIMENT_NODE, { experimentId })).experimentNode, "id"));
      if (nodeId === undefined) throw refusal("the server has no node for the experiment");
    }
    return { namespace, experimentId, nodeId };
  }

  /**
   * Opens the experiment on the server, then starts the lanes. Resolves with the first attempt's
   * failure, if any: a transient one is retried in the background (appends go on; everything is
   * sent once the server answers), a refusal (a wrong token) stops the uploader.
   */
  async start(): Promise<RemoteError | undefined> {
    let first: RemoteError | undefined;
    try {
      this.#ready(await this.#openOnce());
    } catch (error) {
      if (!(error instanceof RemoteError)) throw error;
      if (!error.retryable) {
        this.#stopped = true;
        return error;
      }
      first = error;
    }
    const opened = first === undefined ? Promise.resolve(true) : this.#openInBackground();
    for (const [name, pass] of [
      ["tracks", () => this.#tracksPass()],
      ["records", () => this.#recordsPass()],
      ["files", () => this.#filesPass()],
    ] as const) {
      this.#lanes.push(opened.then((open) => (open ? this.#lane(name, pass) : undefined)));
    }
    return first;
  }

  /** Opens the experiment once the server answers; `false` if the uploader stopped first. */
  async #openInBackground(): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        this.#ready(await this.#openOnce());
        return true;
      } catch (error) {
        const retryable = error instanceof RemoteError && error.retryable;
        const message = error instanceof Error ? error.message : String(error);
        if (retryable) this.#lastRetry = message;
        else this.#problem("open", error);
        this.#add("uploadRetries");
        try {
          await this.#sleep(retryable ? backoffMs(attempt, error) : REFUSED_RETRY_MS);
        } catch {
          return false;
        }
      }
    }
  }

  #ready(opened: Opened): void {
    const state = this.#cursor.state;
    if (state.experimentId !== undefined && state.experimentId !== opened.experimentId.text) {
      // Another experiment than the one the cursor speaks of (the server lost it): it holds none of ours.
      Object.assign(state, { tracks: {}, logs: 0, metrics: {}, files: [], params: undefined, status: undefined });
    }
    state.experimentId = opened.experimentId.text;
    state.nodeId = opened.nodeId.text;
    this.#opened = opened;
    this.#problems.delete("open");
    this.#set("connected", 1);
  }

  get #ids(): Opened {
    if (this.#opened === undefined) throw new Error("the uploader's lanes run only once the experiment is open");
    return this.#opened;
  }

  async #lane(name: string, pass: () => Promise<boolean>): Promise<void> {
    while (!this.#stopped) {
      const finishing = this.#finishing;
      try {
        const sent = await pass();
        this.#problems.delete(name);
        if (sent) continue;
        if (finishing) this.#drained.add(name);
        await this.#sleep(POLL_MS);
      } catch (error) {
        if (error instanceof Interrupted) return;
        this.#problem(name, error);
        try {
          await this.#sleep(REFUSED_RETRY_MS);
        } catch {
          return;
        }
      }
    }
  }

  /**
   * Brings the cursor's track lists up to date with the listed segments (a compaction of segments
   * all sent is sent), and the pending counts with what the spool holds; returns the tracks.
   */
  #countTracks(): RemoteTrack[] {
    const state = this.#cursor.state;
    const tracks = remoteTracks(this.#target.dir);
    let unsent = 0;
    for (const track of tracks) {
      state.tracks[track.dirName] ??= { sent: [] };
      const cursor = state.tracks[track.dirName] as TrackCursor;
      // A compaction of segments all sent holds nothing new (a compaction of compactions may come
      // before its sources in the list: repeat until nothing changes).
      const sentFiles = new Set(cursor.sent);
      for (let changed = true; changed; ) {
        changed = false;
        for (const segment of track.segments) {
          const covered = segment.compactedFrom.length > 0 && segment.compactedFrom.every((file) => sentFiles.has(file));
          if (covered && !sentFiles.has(segment.file)) {
            sentFiles.add(segment.file);
            changed = true;
          }
        }
      }
      const listed = new Set(track.segments.map((s) => s.file));
      cursor.sent = [...sentFiles].filter((file) => listed.has(file));
      for (const segment of track.segments) {
        if (sentFiles.has(segment.file)) continue;
        const partial = cursor.partial !== undefined && cursor.partial.file === segment.file ? cursor.partial.bodies * TRACK_BODY_ROWS : 0;
        unsent += Math.max(0, segment.rows - partial);
      }
    }
    this.#set("entriesUnsent", unsent);
    return tracks;
  }

  /** The files not sent yet; updates the pending count. */
  #countFiles(): FileRecord[] {
    const state = this.#cursor.state;
    const records = remoteFiles(this.#target.dir);
    const live = new Set(records.map((r) => r.id));
    state.files = state.files.filter((id) => live.has(id));
    const sentIds = new Set(state.files);
    const todo = records.filter((r) => !sentIds.has(r.id));
    this.#set("filesUnsent", todo.length);
    return todo;
  }

  /** Updates the pending counts with what the spool holds now (after a flush). */
  count(): void {
    this.#countTracks();
    this.#countFiles();
  }

  /**
   * Sends every sealed segment not sent yet, `TRACK_REQUESTS` bodies in flight (the server merges
   * by timestamp, so their order does not matter); whether it sent anything. A segment counts as
   * sent once all its bodies are acknowledged; the cursor keeps how many of its first bodies were.
   */
  async #tracksPass(): Promise<boolean> {
    const { dir } = this.#target;
    const state = this.#cursor.state;
    let relist = false;
    let sent = false;
    /** Bodies of the unsent segments, one segment read at a time (async generators queue callers). */
    const bodies = async function* (tracks: RemoteTrack[]) {
      for (const track of tracks) {
        const cursor = state.tracks[track.dirName] as TrackCursor;
        for (const segment of track.segments) {
          if (cursor.sent.includes(segment.file)) continue;
          let read: Awaited<ReturnType<typeof remoteTrackBodies>>;
          try {
            read = await remoteTrackBodies(dir, track.dirName, segment.file, TRACK_BODY_ROWS);
          } catch (error) {
            // Replaced since it was listed (a merge, a compaction): list again after this pass.
            if ((error as { cause?: { code?: string } }).cause?.code !== "ENOENT") throw error;
            relist = true;
            continue;
          }
          const first = cursor.partial?.file === segment.file ? cursor.partial.bodies : 0;
          if (first >= read.length) {
            cursor.sent.push(segment.file); // every body went out before a restart
            continue;
          }
          const progress = { cursor, file: segment.file, total: read.length, acked: new Set<number>(), first };
          for (let i = first; i < read.length; i++) yield { track, index: i, body: read[i] as (typeof read)[number], progress };
        }
      }
    };
    const jobs = bodies(this.#countTracks());
    let failed = false;
    const sender = async () => {
      while (!failed) {
        const next = await jobs.next();
        if (next.done === true) return;
        const { track, index, body, progress } = next.value;
        await this.#send({
          method: "POST",
          path: `/experiments/${this.#ids.experimentId}/tracks/${quote(track.topic)}/append_batch`,
          body: body.body,
        });
        this.#add("entriesUploaded", body.entries);
        this.#add("entriesUnsent", -body.entries);
        progress.acked.add(index);
        let prefix = progress.first;
        while (progress.acked.has(prefix)) prefix++;
        if (prefix === progress.total) {
          progress.cursor.sent.push(progress.file);
          if (progress.cursor.partial?.file === progress.file) delete progress.cursor.partial;
        } else if (prefix > progress.first) {
          progress.cursor.partial = { file: progress.file, bodies: prefix };
        }
        this.#cursor.saveSoon();
        sent = true;
      }
    };
    try {
      await Promise.all(
        Array.from({ length: TRACK_REQUESTS }, () =>
          sender().catch((error: unknown) => {
            failed = true;
            throw error;
          }),
        ),
      );
    } finally {
      await jobs.return(undefined);
    }
    return sent || relist;
  }

  /** Sends the records of one JSON lines file from the cursor's offset; whether it sent any. */
  async #recordsOf(metric: string | undefined, path: string, batch: number): Promise<boolean> {
    const state = this.#cursor.state;
    let sent = false;
    for (;;) {
      const offset = metric === undefined ? state.logs : (state.metrics[metric] ?? 0);
      const next = await remoteRecordBatch(this.#target.dir, metric, offset, batch);
      if (next.nextOffset === offset) return sent;
      if (next.body !== null && next.body !== undefined) {
        await this.#send({ method: "POST", path, body: next.body });
        this.#add(metric === undefined ? "logLinesUploaded" : "metricPointsUploaded", next.lines);
        sent = true;
      }
      this.#add("unreadableLines", next.unreadable);
      if (metric === undefined) state.logs = next.nextOffset;
      else state.metrics[metric] = next.nextOffset;
      await this.#cursor.save();
    }
  }

  async #recordsPass(): Promise<boolean> {
    const { experimentId } = this.#ids;
    let sent = await this.#recordsOf(undefined, `/experiments/${experimentId}/logs`, LOG_BATCH);
    for (const name of remoteMetricNames(this.#target.dir)) {
      // As the SDK: the name is not encoded as one segment (`eval/reward` stays two).
      const path = `/experiments/${experimentId}/metrics/${name.split("/").map(quote).join("/")}/append-batch`;
      sent = (await this.#recordsOf(name, path, METRIC_BATCH)) || sent;
    }
    const params = remoteParametersBody(this.#target.dir)?.toString("utf8");
    if (params !== undefined && params !== this.#cursor.state.params) {
      await this.#send({ method: "POST", path: `/experiments/${experimentId}/parameters`, body: params });
      this.#cursor.state.params = params;
      await this.#cursor.save();
      sent = true;
    }
    return sent;
  }

  /** The project id files are filed under (asked once, as the SDK asks before each file). */
  #project(): Promise<Id> {
    this.#projectId ??= (async () => {
      const data = await this.#graphql(GET_EXPERIMENT_PROJECT, { experimentId: this.#ids.experimentId });
      const id = idOf(field(data.experimentById, "projectId"));
      if (id === undefined) throw refusal("the server did not say which project the experiment is in");
      return id;
    })();
    this.#projectId.catch(() => {
      this.#projectId = undefined;
    });
    return this.#projectId;
  }

  /** The id of folder `name` under `parentId` (upserted by the server; asked once per folder). */
  #folder(projectId: Id, parentId: Id, name: string): Promise<Id> {
    const key = `${parentId.text}\u0000${name}`;
    let id = this.#folders.get(key);
    if (id === undefined) {
      const { namespace, experimentId } = this.#ids;
      id = (async () => {
        const reply = await this.#send({
          method: "POST",
          path: `/namespaces/${quote(namespace)}/nodes`,
          body: jsonBody({ type: "FOLDER", projectId, experimentId, parentId, name }),
        });
        const folder = idOf(field(field(reply, "node"), "id"));
        if (folder === undefined) throw refusal(`the server's answer to folder "${name}" has no node.id`);
        return folder;
      })();
      id.catch(() => this.#folders.delete(key));
      this.#folders.set(key, id);
    }
    return id;
  }

  async #uploadFile(record: FileRecord): Promise<void> {
    const { namespace, experimentId, nodeId } = this.#ids;
    const projectId = await this.#project();
    let parentId = nodeId;
    for (const name of record.path.split("/").filter((p) => p.length > 0)) parentId = await this.#folder(projectId, parentId, name);
    const data = await remoteFileBytes(this.#target.dir, record.id);
    const fields: Record<string, string> = {
      type: "FILE",
      projectId: projectId.text,
      experimentId: experimentId.text,
      parentId: parentId.text,
      name: record.filename,
      checksum: record.checksum,
    };
    if (typeof record.description === "string" && record.description.length > 0) fields.description = record.description;
    if (record.tags.length > 0) fields.tags = record.tags.join(",");
    if (record.metadata !== null && Object.keys(record.metadata).length > 0) fields.metadata = JSON.stringify(record.metadata);
    const contentType = record.contentType || "application/octet-stream";
    const { body, contentType: type } = formData(fields, "file", { filename: record.filename, contentType, data });
    await this.#send({ method: "POST", path: `/namespaces/${quote(namespace)}/nodes`, body, contentType: type });
  }

  /** Uploads files not sent yet, `FILE_WORKERS` at once; whether it sent any. */
  async #filesPass(): Promise<boolean> {
    const state = this.#cursor.state;
    const todo = this.#countFiles();
    let next = 0;
    const worker = async () => {
      while (next < todo.length) {
        const record = todo[next++] as FileRecord;
        await this.#uploadFile(record);
        state.files.push(record.id);
        this.#add("filesUploaded");
        this.#add("filesUnsent", -1);
        this.#cursor.saveSoon();
      }
    };
    await Promise.all(Array.from({ length: Math.min(FILE_WORKERS, todo.length) }, worker));
    return todo.length > 0;
  }

  /**
   * Sends everything the spool holds (the caller sealed it first), then sets the status on the
   * server. Past `timeoutMs` it rejects with `ERR_DASH_REMOTE_TIMEOUT` saying what is still
   * pending (it stays in the local spool: `dash-ingest push` sends it later); a refusal by the
   * server rejects with its code. Stops the uploader either way.
   */
  async finish(status: string | undefined, timeoutMs: number): Promise<void> {
    const started = Date.now();
    this.#deadline = started + timeoutMs;
    this.#finishing = true;
    this.#drained.clear();
    this.wake();
    try {
      while (this.#opened === undefined || this.#drained.size < this.#lanes.length) {
        // A refusal met since finishing began (each lane tried again at once): waiting would only
        // reach the deadline.
        const refusal = [...this.#problems].find(([, problem]) => problem.at >= started);
        if (refusal !== undefined) {
          const [lane, problem] = refusal;
          const pending = await this.pendingSummary();
          throw Object.assign(dashError(problem.code, `the ${lane} could not be sent: ${problem.message}. ${pending}`), { pending });
        }
        await this.#sleep(POLL_MS / 5);
      }
      if (status !== undefined && status !== "RUNNING" && this.#cursor.state.status !== status) {
        await this.#send({ method: "PATCH", path: `/nodes/${this.#ids.nodeId}`, body: jsonBody({ status }) });
        this.#cursor.state.status = status;
      }
      await this.#cursor.save();
    } catch (error) {
      if (!(error instanceof Interrupted)) throw error;
      const pending = await this.pendingSummary();
      const reason = [...this.#problems.values()][0]?.message ?? this.#lastRetry ?? "the server did not answer in time";
      throw Object.assign(
        dashError(
          "ERR_DASH_REMOTE_TIMEOUT",
          `the upload to ${this.#target.url} did not finish within ${timeoutMs / 1000} s (${reason}). ${pending} ` +
            `It stays in the local spool; \`dash-ingest push ${this.#target.prefix} --dash-url ${this.#target.url}\` sends it.`,
        ),
        { pending },
      );
    } finally {
      this.stop();
      await this.#cursor.save().catch(() => undefined);
    }
  }

  /** Stops the lanes (what they were sending stays pending). */
  stop(): void {
    this.#stopped = true;
    this.wake();
  }

  async #linesAfter(metric: string | undefined, offset: number): Promise<number> {
    let lines = 0;
    for (;;) {
      const batch = await remoteRecordBatch(this.#target.dir, metric, offset, METRIC_BATCH);
      if (batch.nextOffset === offset) return lines;
      lines += batch.lines;
      offset = batch.nextOffset;
    }
  }

  /** What the server does not hold yet, in words. */
  async pendingSummary(): Promise<string> {
    const state = this.#cursor.state;
    const parts: string[] = [];
    if (this.#opened === undefined) parts.push("the experiment itself (not created on the server yet)");
    let segments = 0;
    let entries = 0;
    for (const track of remoteTracks(this.#target.dir)) {
      for (const segment of track.segments) {
        if (state.tracks[track.dirName]?.sent.includes(segment.file)) continue;
        segments++;
        entries += segment.rows;
      }
    }
    if (segments > 0) parts.push(`${entries} track entries (${segments} segments)`);
    const files = remoteFiles(this.#target.dir).filter((r) => !state.files.includes(r.id)).length;
    if (files > 0) parts.push(`${files} files`);
    const logs = await this.#linesAfter(undefined, state.logs);
    if (logs > 0) parts.push(`${logs} log lines`);
    for (const name of remoteMetricNames(this.#target.dir)) {
      const points = await this.#linesAfter(name, state.metrics[name] ?? 0);
      if (points > 0) parts.push(`${points} points of metric "${name}"`);
    }
    const params = remoteParametersBody(this.#target.dir)?.toString("utf8");
    if (params !== undefined && params !== state.params) parts.push("the parameters");
    return parts.length === 0 ? "Everything else was sent." : `Pending: ${parts.join(", ")}.`;
  }
}
