/**
 * `dash-ingest serve`: the ML-Dash server contract (what the Python ml-dash SDK 0.11 sends in
 * remote mode) on top of the engine, so an unmodified SDK pointed at it (`dash_url=`) records into
 * `<dashRoot>/<namespace>/<project>/[<folders>/]<name>`, readable like any local experiment.
 *
 * Contracts:
 * - Ids are derived from names (a kind letter plus the base64url of the path), so they survive a
 *   restart of the server: a client that keeps going after one still addresses the same
 *   experiment. An id that does not decode to a valid path is a 404.
 * - A write is acknowledged (2xx, always a JSON body) only once it survives a crash of the
 *   server: track entries once they are in the write-ahead log (parsed by the engine, no JS object
 *   per entry; sealed into Parquet within the flush interval, or replayed by the next server),
 *   everything else once flushed. A write sent again (the SDK retries when an answer is lost)
 *   is stored once: track entries merge by timestamp; a log line equal to one the experiment
 *   holds (time to the microsecond, level, message, metadata), or a metric point whose data
 *   (with its `_ts`) equals one the metric holds, is not stored again.
 * - Bad input is a 4xx with `{ "error": { "code", "message" } }` and writes nothing of that
 *   entry; names and paths are validated by the engine like local ones (nothing leaves the dash
 *   root). Bodies are limited (`413`). With tokens configured, a request without one of them is
 *   401; without tokens the server only listens on loopback.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type DashErrorCode, dashError, describe } from "./errors.js";
import { isStoreUrl } from "./store/bucket.js";
import { clientEntries, clientLog, clientMetric, Experiment, type ExperimentStatus, release } from "./experiment.js";
import type { FileRecord } from "./files.js";
import { multipart, type Part } from "./multipart.js";
import type { LogLevel } from "./records.js";

export interface ServeOptions {
  dashRoot: string;
  port?: number;
  host?: string;
  /** Accepted bearer tokens; none means no authentication (loopback only). */
  tokens?: string[];
  /** The largest request body accepted, in bytes (default 256 MiB: file uploads are one body). */
  maxBodyBytes?: number;
  /**
   * How many experiments stay open for writing at once (default 64; each holds a writer thread,
   * a log thread and its lock). Past it, the least recently used one is sealed and released (its
   * status unchanged); its next request opens it again.
   */
  maxOpenExperiments?: number;
  /**
   * Seconds an open experiment may go without a request before it is sealed and released — on an
   * object store its lease given up, so that another server on the same bucket can take it.
   * Default: 10 on an object-store root; on a local one, 0 (never).
   */
  idleReleaseSeconds?: number;
}

export interface DashServer {
  url: string;
  /** Stops accepting requests and seals and releases every open experiment (their status stays as it is). */
  close(): Promise<void>;
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);
const DEFAULT_MAX_BODY = 256 * 1024 * 1024;

/** A request the server refuses, with the status and code it answers. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: DashErrorCode,
    message: string,
  ) {
    super(message);
  }
}

// Ids: a kind letter and the base64url of what it names.
const KIND = { experiment: "e", node: "n", project: "p", folder: "f", fileFolder: "d", file: "x" } as const;
type Kind = keyof typeof KIND;

function idOf(kind: Kind, path: string): string {
  return KIND[kind] + Buffer.from(path, "utf8").toString("base64url");
}

function pathOf(kind: Kind, id: unknown): string {
  if (typeof id !== "string" || id[0] !== KIND[kind]) throw new HttpError(404, "ERR_DASH_NOT_FOUND", `unknown ${kind} id ${describe(id)}`);
  const path = Buffer.from(id.slice(1), "base64url").toString("utf8");
  if (idOf(kind, path) !== id) throw new HttpError(404, "ERR_DASH_NOT_FOUND", `unknown ${kind} id ${describe(id)}`);
  return path;
}

/** A file folder's id names its experiment and the folder path inside it. */
const FOLDER_SEPARATOR = "\n";

function segment(value: unknown, what: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
  if (typeof value !== "string" || value === "." || value === ".." || /^$|[/\x00-\x1f]/.test(value)) {
    throw new HttpError(400, "ERR_DASH_INVALID_NAME", `${what} must be a name without "/" or control characters, got ${describe(value)}`);
  }
  return value;
}

function jsonObject(body: Buffer): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(body.toString("utf8"));
  } catch (error) {
    throw new HttpError(400, "ERR_DASH_INVALID_ARGUMENT", `the body is not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new HttpError(400, "ERR_DASH_INVALID_ARGUMENT", "the body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

function arrayField(body: Record<string, unknown>, key: string): unknown[] {
  const value = body[key];
  if (!Array.isArray(value)) throw new HttpError(400, "ERR_DASH_INVALID_ARGUMENT", `"${key}" must be an array`);
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const LEVELS = new Set(["debug", "info", "warn", "error", "fatal"]);
const STATUSES = new Set<ExperimentStatus>(["COMPLETED", "FAILED", "CANCELLED", "RUNNING"]);

export async function startServer(options: ServeOptions): Promise<DashServer> {
  const { dashRoot, port = 3000, host = "127.0.0.1", tokens = [], maxBodyBytes = DEFAULT_MAX_BODY, maxOpenExperiments = 64 } = options;
  const idleMs = (options.idleReleaseSeconds ?? (isStoreUrl(dashRoot) ? 10 : 0)) * 1000;
  if (tokens.length === 0 && !LOOPBACK.has(host)) {
    throw dashError(
      "ERR_DASH_INVALID_ARGUMENT",
      `serving on ${host} needs a token (--token or DASH_INGEST_TOKENS); without one only loopback is allowed`,
    );
  }
  /**
   * The open experiments by prefix, least recently used first; each is opened once (one writing
   * engine per experiment).
   */
  const open = new Map<string, Promise<Experiment>>();
  /** Experiments being released (sealed, their lock let go): reopening one waits for that. */
  const releasing = new Map<string, Promise<void>>();
  /** When each open experiment was last asked for, and how many requests are using it now. */
  const lastUsed = new Map<string, number>();
  const inFlight = new Map<string, number>();
  /** The experiments the current request asked for (so an idle release never takes one from under it). */
  const requestScope = new AsyncLocalStorage<Set<string>>();

  /** Seals and releases an open experiment (its status unchanged); its next request opens it again. */
  function evict(prefix: string): void {
    const evicted = open.get(prefix);
    lastUsed.delete(prefix);
    if (evicted === undefined) return;
    open.delete(prefix);
    const done = evicted.then(release, () => undefined).finally(() => releasing.delete(prefix));
    releasing.set(prefix, done);
  }

  const idleSweep =
    idleMs > 0
      ? setInterval(
          () => {
            for (const [prefix, at] of lastUsed) {
              if ((inFlight.get(prefix) ?? 0) === 0 && Date.now() - at >= idleMs) evict(prefix);
            }
          },
          Math.min(1000, idleMs / 2),
        ).unref()
      : undefined;

  function experiment(prefix: string, fields: { tags?: string[]; description?: string } = {}): Promise<Experiment> {
    let opening = open.get(prefix);
    if (opening === undefined) {
      const released = releasing.get(prefix) ?? Promise.resolve();
      opening = released.then(() => new Experiment(prefix, { dashRoot, ...fields }).start());
      opening.catch(() => open.delete(prefix));
    }
    open.delete(prefix);
    open.set(prefix, opening);
    lastUsed.set(prefix, Date.now());
    const scope = requestScope.getStore();
    if (scope !== undefined && !scope.has(prefix)) {
      scope.add(prefix);
      inFlight.set(prefix, (inFlight.get(prefix) ?? 0) + 1);
    }
    while (open.size > maxOpenExperiments) evict(open.keys().next().value as string);
    return opening;
  }

  async function finish(prefix: string, status: ExperimentStatus): Promise<void> {
    const running = await experiment(prefix);
    open.delete(prefix);
    if (status === "COMPLETED") await running.complete();
    else if (status === "FAILED") await running.fail();
    else if (status === "CANCELLED") await running.cancel();
  }

  /**
   * Runs `use` on the experiment: the open one, or else one opened for reading (a read does not
   * start a finished experiment again).
   */
  async function reading<T>(prefix: string, use: (e: Experiment) => Promise<T> | T): Promise<T> {
    const running = open.get(prefix);
    if (running !== undefined) return use(await running);
    const reader = await Experiment.open(prefix, { dashRoot });
    try {
      return await use(reader);
    } finally {
      await reader.close();
    }
  }

  /** A file's node id: its experiment, folder and name. */
  function fileId(prefix: string, record: FileRecord): string {
    return idOf("file", `${prefix}${FOLDER_SEPARATOR}${record.path.replace(/^\//, "")}${FOLDER_SEPARATOR}${record.filename}`);
  }

  /** The file a node id names, with its record. */
  async function fileOf(id: string): Promise<{ prefix: string; folder: string; record: FileRecord }> {
    const [prefix = "", folder = "", name = ""] = pathOf("file", id).split(FOLDER_SEPARATOR);
    const records = await reading(prefix, (e) => e.files().listAll());
    const record = records.find((r) => r.path.replace(/^\//, "") === folder && r.filename === name);
    if (record === undefined) throw new HttpError(404, "ERR_DASH_NOT_FOUND", `no file ${describe(name)} in ${describe(folder)}`);
    return { prefix, folder, record };
  }

  /** A file as the SDK's node and search answers describe it. */
  function fileNode(prefix: string, record: FileRecord): Record<string, unknown> {
    const folder = record.path.replace(/^\//, "");
    return {
      id: fileId(prefix, record),
      name: record.filename,
      path: folder === "" ? record.filename : `${folder}/${record.filename}`,
      pPath: record.path,
      description: record.description,
      tags: record.tags,
      metadata: record.metadata,
      createdAt: record.uploadedAt,
      physicalFile: {
        id: record.id,
        filename: record.filename,
        contentType: record.contentType,
        sizeBytes: record.sizeBytes,
        checksum: record.checksum,
      },
    };
  }

  async function graphql(body: Record<string, unknown>): Promise<unknown> {
    const query = typeof body.query === "string" ? body.query : "";
    const variables = isRecord(body.variables) ? body.variables : {};
    if (/\bme\s*\{/.test(query)) return { me: { username: "local" } };
    if (/namespace\s*\(\s*slug:/.test(query)) return { namespace: { projects: [] } };
    if (/experimentNode\s*\(/.test(query)) {
      return { experimentNode: { id: idOf("node", pathOf("experiment", variables.experimentId)) } };
    }
    if (/filesPaginated\s*\(/.test(query)) {
      const prefix = pathOf("experiment", variables.experimentId);
      const limit = typeof variables.limit === "number" ? variables.limit : 500;
      const offset = typeof variables.offset === "number" ? variables.offset : 0;
      const records = await reading(prefix, (e) => e.files().listAll());
      const files = records.slice(offset, offset + limit).map((r) => fileNode(prefix, r));
      return { experimentById: { filesPaginated: { files, totalCount: records.length, hasMore: offset + files.length < records.length } } };
    }
    if (/experimentById\s*\(/.test(query)) {
      const prefix = pathOf("experiment", variables.experimentId);
      const [namespace = "", project = ""] = prefix.split("/");
      if (/\bprojectId\b/.test(query) && !/project\s*\{/.test(query)) {
        return { experimentById: { projectId: idOf("project", `${namespace}/${project}`) } };
      }
      return { experimentById: { project: { slug: project, name: project, namespace: { slug: namespace } } } };
    }
    if (/project\s*\(/.test(query)) return { project: { nodes: [] } };
    throw new HttpError(400, "ERR_DASH_INVALID_ARGUMENT", "unsupported GraphQL operation");
  }

  /** `POST /api/namespaces/{ns}/nodes` with a JSON body: PROJECT, FOLDER or EXPERIMENT. */
  async function createNode(namespace: string, body: Record<string, unknown>): Promise<unknown> {
    switch (body.type) {
      case "PROJECT": {
        const project = segment(body.slug ?? body.name, "project slug");
        return { project: { id: idOf("project", `${namespace}/${project}`), slug: project } };
      }
      case "FOLDER": {
        const name = segment(body.name, "folder name");
        if (body.experimentId !== undefined) {
          const prefix = pathOf("experiment", body.experimentId);
          const parent =
            typeof body.parentId === "string" && body.parentId.startsWith(KIND.fileFolder)
              ? pathOf("fileFolder", body.parentId)
              : `${prefix}${FOLDER_SEPARATOR}`;
          const [owner = "", folders = ""] = parent.split(FOLDER_SEPARATOR);
          if (owner !== prefix) throw new HttpError(400, "ERR_DASH_INVALID_ARGUMENT", "parentId belongs to another experiment");
          return { node: { id: idOf("fileFolder", `${prefix}${FOLDER_SEPARATOR}${folders === "" ? name : `${folders}/${name}`}`) } };
        }
        const parent =
          body.parentId === "ROOT" || body.parentId === undefined ? pathOf("project", body.projectId) : pathOf("folder", body.parentId);
        return { node: { id: idOf("folder", `${parent}/${name}`) } };
      }
      case "EXPERIMENT": {
        const name = segment(body.name, "experiment name");
        let parent: string;
        if (typeof body.parentId === "string" && body.parentId !== "ROOT") parent = pathOf("folder", body.parentId);
        else if (body.projectId !== undefined) parent = pathOf("project", body.projectId);
        else parent = `${namespace}/${segment(body.projectSlug, "projectSlug")}`;
        if (!parent.startsWith(`${namespace}/`))
          throw new HttpError(400, "ERR_DASH_INVALID_ARGUMENT", "the project belongs to another namespace");
        const prefix = `${parent}/${name}`;
        const tags = Array.isArray(body.tags) && body.tags.every((t) => typeof t === "string") ? (body.tags as string[]) : undefined;
        const description = typeof body.description === "string" ? body.description : undefined;
        await experiment(prefix, { ...(tags ? { tags } : {}), ...(description === undefined ? {} : { description }) });
        return { experiment: { id: idOf("experiment", prefix), name, status: "RUNNING" }, node: { id: idOf("node", prefix) } };
      }
      default:
        throw new HttpError(400, "ERR_DASH_INVALID_ARGUMENT", `unsupported node type ${describe(body.type)}`);
    }
  }

  /** `POST /api/namespaces/{ns}/nodes` multipart, `type=FILE`: one file of an experiment. */
  async function uploadFile(parts: Map<string, Part>): Promise<unknown> {
    const text = (key: string) => parts.get(key)?.data.toString("utf8");
    if (text("type") !== "FILE") throw new HttpError(400, "ERR_DASH_INVALID_ARGUMENT", "a multipart node must be of type FILE");
    const file = parts.get("file");
    if (file === undefined) throw new HttpError(400, "ERR_DASH_INVALID_ARGUMENT", 'the "file" part is missing');
    const prefix = pathOf("experiment", text("experimentId"));
    const parentId = text("parentId");
    let folders = "";
    if (parentId?.startsWith(KIND.fileFolder)) {
      const [owner, path = ""] = pathOf("fileFolder", parentId).split(FOLDER_SEPARATOR);
      if (owner !== prefix) throw new HttpError(400, "ERR_DASH_INVALID_ARGUMENT", "parentId belongs to another experiment");
      folders = path;
    }
    const name = text("name") ?? file.filename ?? "";
    const metadataText = text("metadata");
    const metadata = metadataText === undefined ? undefined : jsonObject(Buffer.from(metadataText));
    const running = await experiment(prefix);
    running
      .files(folders)
      .save(new Uint8Array(file.data.buffer, file.data.byteOffset, file.data.byteLength), { to: name, ...(metadata ? { metadata } : {}) });
    await running.flush();
    return { node: { id: idOf("fileFolder", `${prefix}${FOLDER_SEPARATOR}${folders}/${name}`), experimentId: idOf("experiment", prefix) } };
  }

  async function appendTrack(prefix: string, topic: string, body: Buffer): Promise<unknown> {
    const running = await experiment(prefix);
    const count = await clientEntries(running, topic, body);
    if (count === 0) throw new HttpError(400, "ERR_DASH_INVALID_ARGUMENT", '"entries" is empty');
    return { count, topic };
  }

  async function appendLogs(prefix: string, body: Record<string, unknown>): Promise<unknown> {
    const lines = arrayField(body, "logs");
    for (const [i, line] of lines.entries()) {
      if (!isRecord(line) || typeof line.message !== "string" || typeof line.timestamp !== "string" || !LEVELS.has(line.level as string)) {
        throw new HttpError(400, "ERR_DASH_INVALID_ARGUMENT", `log ${i} needs a string "message" and "timestamp" and a known "level"`);
      }
    }
    const running = await experiment(prefix);
    for (const line of lines as Record<string, unknown>[]) {
      const metadata = isRecord(line.metadata) ? { metadata: line.metadata } : {};
      clientLog(running, line.timestamp as string, line.message as string, { level: line.level as LogLevel, ...metadata });
    }
    await running.flush();
    return { created: lines.length };
  }

  async function appendMetric(prefix: string, name: string, body: Record<string, unknown>): Promise<unknown> {
    const points = arrayField(body, "dataPoints");
    if (!points.every(isRecord)) throw new HttpError(400, "ERR_DASH_INVALID_ARGUMENT", '"dataPoints" must hold objects');
    const running = await experiment(prefix);
    for (const point of points) clientMetric(running, name, point);
    await running.flush();
    return { count: points.length };
  }

  /**
   * A page of a metric's points as the SDK's `read_rows` takes them (`ml-dash.metric-rows.v1`):
   * one block whose columns are the points' fields; a column of integers is `int64` (decimal
   * strings), of numbers `float64` (non-finite ones as `"NaN"`, `"Infinity"`), of booleans `bool`,
   * anything else `utf8` (non-strings as JSON). The cursor is the index of the next point.
   */
  async function metricRows(running: Experiment, name: string, query: URLSearchParams): Promise<unknown> {
    const startIndex = Number(query.get("cursor") ?? 0);
    const limit = Number(query.get("limit") ?? 1000);
    if (!Number.isInteger(startIndex) || startIndex < 0 || !Number.isInteger(limit) || limit < 1) {
      throw new HttpError(400, "ERR_DASH_INVALID_ARGUMENT", "cursor and limit must be non-negative integers");
    }
    const page = await running.metrics(name).read({ startIndex, limit });
    const points = page.data.map((p) => p.data);
    const names = [...new Set(points.flatMap((p) => Object.keys(p)))];
    const typeOf = (values: unknown[]): string => {
      const present = values.filter((v) => v !== null && v !== undefined);
      if (present.length > 0 && present.every((v) => typeof v === "boolean")) return "bool";
      if (present.every((v) => typeof v === "number")) {
        return present.every((v) => Number.isSafeInteger(v) && !Object.is(v, -0)) ? "int64" : "float64";
      }
      return "utf8";
    };
    const columns = names.map((column) => ({ name: column, type: typeOf(points.map((p) => p[column])) }));
    const cell = (type: string, value: unknown): unknown => {
      if (value === null || value === undefined) return null;
      if (type === "int64") return String(value);
      if (type === "float64") return Number.isFinite(value) ? value : String(value);
      if (type === "utf8") return typeof value === "string" ? value : JSON.stringify(value);
      return value;
    };
    const rows = points.map((p) => columns.map((c) => cell(c.type, p[c.name])));
    return {
      format: "ml-dash.metric-rows.v1",
      visibility: "committed",
      order: "storage",
      metricId: `${idOf("experiment", running.prefix)}/${name}`,
      blocks: rows.length === 0 ? [] : [{ columns, rows }],
      returned: rows.length,
      hasMore: page.hasMore,
      nextCursor: page.hasMore ? String(startIndex + rows.length) : null,
    };
  }

  async function readTrack(running: Experiment, topic: string, query: URLSearchParams): Promise<unknown> {
    const number = (key: string) => {
      const text = query.get(key);
      const value = text === null ? undefined : Number(text);
      if (value !== undefined && !Number.isFinite(value)) throw new HttpError(400, "ERR_DASH_INVALID_ARGUMENT", `${key} must be a number`);
      return value;
    };
    const columns = query.get("columns")?.split(",").filter(Boolean);
    const { entries, count } = await running.track(topic).read({
      ...(number("start_timestamp") === undefined ? {} : { start: number("start_timestamp") }),
      ...(number("end_timestamp") === undefined ? {} : { end: number("end_timestamp") }),
      ...(columns === undefined ? {} : { columns }),
    });
    return { topic, count, entries };
  }

  /** Routes one request; resolves with the JSON to answer (status 200, or 201 for creations). */
  async function route(
    method: string,
    path: string,
    query: URLSearchParams,
    body: Buffer,
    contentType: string,
  ): Promise<[number, unknown]> {
    if (method === "POST" && path === "/graphql") return [200, { data: await graphql(jsonObject(body)) }];
    if (method === "GET" && path === "/api/search/files") {
      const prefix = pathOf("experiment", query.get("experimentId"));
      const basename = (query.get("pattern") ?? "").replace(/^\*\*\//, "");
      const limit = Number(query.get("limit") ?? 10);
      const offset = Number(query.get("offset") ?? 0);
      const records = await reading(prefix, (e) => e.files().listAll());
      const found = records.filter((r) => r.filename === basename || basename === "" || basename === "*");
      return [200, { files: found.slice(offset, offset + limit).map((r) => fileNode(prefix, r)), total: found.length }];
    }
    const file = /^\/api\/nodes\/(x[^/]+)(\/download)?$/.exec(path);
    if (file !== null && method === "GET") {
      const { prefix, folder, record } = await fileOf(decodeURIComponent(file[1] as string));
      if (file[2] === undefined) return [200, fileNode(prefix, record)];
      return [200, await reading(prefix, (e) => e.files(folder).read(record.filename))];
    }
    let m = /^\/api\/namespaces\/([^/]+)\/nodes$/.exec(path);
    if (m !== null && method === "POST") {
      const namespace = segment(decodeURIComponent(m[1] as string), "namespace");
      if (contentType.startsWith("multipart/form-data")) {
        const parts = multipart(body, contentType);
        if (parts === undefined) throw new HttpError(400, "ERR_DASH_INVALID_ARGUMENT", "the multipart body is malformed");
        return [201, await uploadFile(parts)];
      }
      return [201, await createNode(namespace, jsonObject(body))];
    }
    m = /^\/api\/nodes\/([^/]+)$/.exec(path);
    if (m !== null && method === "PATCH") {
      const prefix = pathOf("node", decodeURIComponent(m[1] as string));
      const status = jsonObject(body).status;
      if (status !== undefined) {
        if (!STATUSES.has(status as ExperimentStatus))
          throw new HttpError(400, "ERR_DASH_INVALID_ARGUMENT", `unknown status ${describe(status)}`);
        if (status !== "RUNNING") await finish(prefix, status as ExperimentStatus);
      }
      return [200, { id: idOf("node", prefix), status }];
    }
    m = /^\/api\/experiments\/([^/]+)\/(.+)$/.exec(path);
    if (m === null) throw new HttpError(404, "ERR_DASH_NOT_FOUND", `no route ${method} ${path}`);
    const prefix = pathOf("experiment", decodeURIComponent(m[1] as string));
    const rest = m[2] as string;
    if (method === "POST" && rest === "logs") return [201, await appendLogs(prefix, jsonObject(body))];
    if (rest === "parameters" && method === "GET") return [200, { data: await reading(prefix, (e) => e.params.get()) }];
    if (rest === "parameters" && method === "POST") {
      const data = jsonObject(body).data;
      if (!isRecord(data)) throw new HttpError(400, "ERR_DASH_INVALID_ARGUMENT", '"data" must be an object');
      return [200, { data: (await experiment(prefix)).params.set(data) }];
    }
    if (rest === "tracks" && method === "GET") {
      const filter = query.get("topic") ?? undefined;
      return [200, { tracks: await reading(prefix, (e) => e.tracks.list(filter)) }];
    }
    m = /^tracks\/([^/]+)\/(append_batch|data)$/.exec(rest);
    if (m !== null) {
      const topic = decodeURIComponent(m[1] as string);
      if (method === "POST" && m[2] === "append_batch") return [201, await appendTrack(prefix, topic, body)];
      if (method === "GET" && m[2] === "data") return [200, await reading(prefix, (e) => readTrack(e, topic, query))];
    }
    m = /^metrics\/([^/]+)\/rows$/.exec(rest);
    if (m !== null && method === "GET") {
      const name = decodeURIComponent(m[1] as string);
      return [200, await reading(prefix, (e) => metricRows(e, name, query))];
    }
    // Metric names arrive unencoded and may hold "/": everything up to the last /append-batch.
    m = /^metrics\/(.+)\/append-batch$/.exec(rest);
    if (m !== null && method === "POST") return [201, await appendMetric(prefix, m[1] as string, jsonObject(body))];
    throw new HttpError(404, "ERR_DASH_NOT_FOUND", `no route ${method} ${path}`);
  }

  function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (body instanceof Uint8Array) {
      res.writeHead(status, { ...headers, "content-type": "application/octet-stream", "content-length": body.byteLength });
      res.end(body);
      return;
    }
    const text = JSON.stringify(body);
    res.writeHead(status, { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
  }

  function authorized(req: IncomingMessage): boolean {
    if (tokens.length === 0) return true;
    const header = req.headers.authorization ?? "";
    return header.startsWith("Bearer ") && tokens.includes(header.slice("Bearer ".length));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (!authorized(req)) throw new HttpError(401, "ERR_DASH_UNAUTHORIZED", "a valid bearer token is required");
      const length = Number(req.headers["content-length"] ?? 0);
      if (length > maxBodyBytes) throw new HttpError(413, "ERR_DASH_TOO_LARGE", `the body is over ${maxBodyBytes} bytes`);
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size > maxBodyBytes) throw new HttpError(413, "ERR_DASH_TOO_LARGE", `the body is over ${maxBodyBytes} bytes`);
        chunks.push(chunk as Buffer);
      }
      const url = new URL(req.url ?? "/", "http://server");
      const [status, body] = await route(
        req.method ?? "GET",
        url.pathname,
        url.searchParams,
        Buffer.concat(chunks),
        req.headers["content-type"] ?? "",
      );
      reply(res, status, body);
    } catch (error) {
      if (error instanceof HttpError) {
        reply(res, error.status, { error: { code: error.code, message: error.message } });
        if (error.status === 413) req.destroy();
        return;
      }
      const { code, message } = error as { code?: string; message?: string };
      // The engine's own refusals (bad names, values) are the client's fault. An experiment another
      // writer holds (another server on the same object store) is worth asking again later.
      const clientFault = error instanceof TypeError || error instanceof RangeError;
      const status = code === "ERR_DASH_NOT_FOUND" ? 404 : code === "ERR_DASH_LOCKED" ? 503 : clientFault ? 400 : 500;
      const body = { error: { code: code ?? "ERR_DASH_INTERNAL", message: message ?? String(error) } };
      reply(res, status, body, status === 503 ? { "retry-after": "1" } : {});
    }
  }

  const server = createServer((req, res) => {
    const scope = new Set<string>();
    void requestScope.run(scope, () =>
      handle(req, res).finally(() => {
        for (const prefix of scope) {
          const left = (inFlight.get(prefix) ?? 1) - 1;
          if (left > 0) inFlight.set(prefix, left);
          else inFlight.delete(prefix);
          if (open.has(prefix)) lastUsed.set(prefix, Date.now());
        }
      }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}`,
    async close() {
      clearInterval(idleSweep);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      const experiments = await Promise.allSettled(open.values());
      open.clear();
      await Promise.allSettled(releasing.values());
      await Promise.all(experiments.map((e) => (e.status === "fulfilled" ? release(e.value) : undefined)));
    },
  };
}
