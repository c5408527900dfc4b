/**
 * The uploader's durable cursor: what of an experiment's local spool one server already holds,
 * in `<experiment>/.dash-ingest-upload.json` (one section per server URL), so an upload resumes
 * after a crash or restart instead of starting over. Written atomically (a temporary file,
 * fsynced, renamed over it).
 *
 * What it records, per server: the experiment's ids there; per track the segments sent (a segment
 * file never changes under its name) and how many bodies of the one being sent went out; the byte
 * offset reached in `logs/logs.jsonl` and in each metric's `data.jsonl`; the parameters last sent;
 * the ids of the files sent; the status set.
 */
import { constants } from "node:fs";
import { open, readFile, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { dashError } from "../errors.js";

export const CURSOR_FILE = ".dash-ingest-upload.json";

export interface TrackCursor {
  sent: string[];
  /** The segment being sent, and how many of its bodies the server acknowledged. */
  partial?: { file: string; bodies: number };
}

export interface ServerCursor {
  experimentId?: string;
  nodeId?: string;
  tracks: Record<string, TrackCursor>;
  logs: number;
  metrics: Record<string, number>;
  /** The parameters body last acknowledged. */
  params?: string;
  files: string[];
  status?: string;
}

function emptyCursor(): ServerCursor {
  return { tracks: {}, logs: 0, metrics: {}, files: [] };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isOffset = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === "string");

/** Whether `v` is a server section this module wrote (a crafted file is refused, never trusted). */
function valid(v: unknown): v is ServerCursor {
  if (!isRecord(v) || !isRecord(v.tracks) || !isRecord(v.metrics) || !isOffset(v.logs) || !isStrings(v.files)) return false;
  for (const key of ["experimentId", "nodeId", "params", "status"]) {
    if (v[key] !== undefined && typeof v[key] !== "string") return false;
  }
  if (!Object.values(v.metrics).every(isOffset)) return false;
  return Object.values(v.tracks).every(
    (t) =>
      isRecord(t) &&
      isStrings(t.sent) &&
      (t.partial === undefined || (isRecord(t.partial) && typeof t.partial.file === "string" && isOffset(t.partial.bodies))),
  );
}

/** Coalesced saves are at most this far apart. */
const SAVE_DELAY_MS = 100;

export class Cursor {
  readonly #path: string;
  readonly #url: string;
  readonly #others: Record<string, unknown>;
  readonly state: ServerCursor;
  #saving: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;

  private constructor(path: string, url: string, others: Record<string, unknown>, state: ServerCursor) {
    this.#path = path;
    this.#url = url;
    this.#others = others;
    this.state = state;
  }

  /** The cursor of experiment directory `dir` for server `url` (empty if none was saved). */
  static async load(dir: string, url: string): Promise<Cursor> {
    const path = join(dir, CURSOR_FILE);
    let servers: Record<string, unknown> = {};
    let text: string | undefined;
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    if (text !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      const section = isRecord(parsed) && isRecord(parsed.servers) ? parsed.servers[url] : undefined;
      if (!isRecord(parsed) || parsed.version !== 1 || !isRecord(parsed.servers) || (section !== undefined && !valid(section))) {
        throw dashError(
          "ERR_DASH_CORRUPT",
          `${path} is not an upload cursor this engine wrote; remove it to upload everything again (tracks merge on the server; other records may then be stored twice)`,
        );
      }
      servers = parsed.servers;
    }
    const state = (servers[url] as ServerCursor | undefined) ?? emptyCursor();
    return new Cursor(path, url, servers, state);
  }

  /** Writes the cursor now (after earlier saves); resolves once it is durable. */
  save(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#saving = this.#saving.then(() => this.#write());
    return this.#saving;
  }

  /** Saves within `SAVE_DELAY_MS` (for progress that may be sent again harmlessly, or rarely). */
  saveSoon(): void {
    this.#timer ??= setTimeout(() => void this.save().catch(() => undefined), SAVE_DELAY_MS);
  }

  async #write(): Promise<void> {
    const text = `${JSON.stringify({ version: 1, servers: { ...this.#others, [this.#url]: this.state } })}\n`;
    const temporary = `${this.#path}.tmp`;
    // A fresh file, never one planted in its place (a symbolic link): nothing is written outside
    // the experiment.
    await rm(temporary, { force: true });
    const file = await open(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    try {
      await file.writeFile(text);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, this.#path);
    const dir = await open(dirname(this.#path), constants.O_RDONLY);
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
