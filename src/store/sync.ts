/**
 * Copies between an experiment's local directory and its prefix in an object store, keeping the
 * rule readers rely on: a track's manifest (`tracks/<dir>/metadata.json`) is written only after
 * every segment it names, and a segment is deleted only once no manifest names it. Segment objects
 * are immutable: a name is never written twice with other content by one writer.
 *
 * Local paths are never followed through symbolic links, and a key read from the store becomes a
 * local path only when every part of it is a plain name.
 */
import { createHash, randomBytes } from "node:crypto";
import { lstat, mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { dashError } from "../errors.js";
import { type Bucket, ConditionFailed } from "./bucket.js";
import { LEASE_OBJECT } from "./lease.js";

const METADATA = "metadata.json";
const SEGMENT = /^seg-\d{8}\.parquet$/;
/** Written after everything else of their kind: they name what the rest holds. */
const LAST = new Set(["files/.files_metadata.json", "experiment.json"]);

/** Engine-private files (lock, write-ahead log, cursors) and temporaries stay local. */
function isPrivate(name: string): boolean {
  return name.startsWith(".dash-ingest") || name.endsWith(".tmp");
}

/** A relative key's parts, if each is a plain file name (no `..`, no empty part, no backslash or NUL). */
function plainParts(relative: string): string[] | undefined {
  const parts = relative.split("/");
  const plain = parts.every((p) => p !== "" && p !== "." && p !== ".." && !p.includes("\\") && !p.includes("\0"));
  return plain ? parts : undefined;
}

function md5(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}

/** An ETag without quotes, as the MD5 of a single-part upload. */
function bare(etag: string): string {
  return etag.replace(/^W\//, "").replace(/"/g, "");
}

/** Every regular file under `dir` (relative, "/"-separated), symbolic links skipped. */
async function walk(dir: string, prefix = ""): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const files: string[] = [];
  for (const name of names) {
    if (isPrivate(name)) continue;
    const info = await lstat(join(dir, name)).catch(() => undefined);
    if (info?.isDirectory()) files.push(...(await walk(join(dir, name), `${prefix}${name}/`)));
    else if (info?.isFile()) files.push(`${prefix}${name}`);
  }
  return files;
}

/** The segment files a manifest names, or `undefined` if it is not one we can trust. */
function segmentsOf(manifest: Uint8Array): string[] | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(manifest).toString("utf8")) as { segments?: { file?: unknown }[] };
    const files = (parsed.segments ?? []).map((s) => s.file);
    return files.every((f): f is string => typeof f === "string" && SEGMENT.test(f)) ? files : undefined;
  } catch {
    return undefined;
  }
}

/** A local file to publish, and its size and mtime when it was read. */
interface Changed {
  bytes: Uint8Array;
  stamp: string;
}

/** Counts of one `publish` pass. */
export interface Published {
  objects: number;
  bytes: number;
  /** Local files that differ from the store after the pass (changed meanwhile, or failed). */
  pending: number;
}

/**
 * Publishes one experiment directory to `prefix` (its key prefix, ending in "/"), pass by pass:
 * only what changed since the last pass is read, and only what differs from the store is sent.
 */
export class Publisher {
  readonly #bucket: Bucket;
  readonly #dir: string;
  readonly #prefix: string;
  /** What the store holds, by relative key: its ETag (unquoted). */
  readonly #stored = new Map<string, string>();
  /** Local files already known to equal the store: size and mtime when they were checked. */
  readonly #checked = new Map<string, string>();
  /** Called before every manifest write: throws when this writer may no longer write. */
  readonly #mayWrite: () => void;

  constructor(bucket: Bucket, dir: string, prefix: string, mayWrite: () => void) {
    this.#bucket = bucket;
    this.#dir = dir;
    this.#prefix = prefix;
    this.#mayWrite = mayWrite;
  }

  /** Learns what the store holds (once, before the first pass). */
  async learn(): Promise<void> {
    this.#stored.clear();
    for (const object of await this.#bucket.list(this.#prefix)) {
      this.#stored.set(object.key.slice(this.#prefix.length), bare(object.etag));
    }
  }

  /**
   * The local file if it differs from the store, else `undefined`; with its size and mtime as seen
   * before it was read (a file written again meanwhile then looks changed at the next pass).
   */
  async #changed(relative: string): Promise<Changed | undefined> {
    const path = join(this.#dir, relative);
    const info = await lstat(path);
    if (!info.isFile()) return undefined;
    const stamp = `${info.size}:${info.mtimeMs}`;
    if (this.#checked.get(relative) === stamp) return undefined;
    const bytes = await readFile(path);
    if (this.#stored.get(relative) === md5(bytes)) {
      this.#checked.set(relative, stamp);
      return undefined;
    }
    return { bytes, stamp };
  }

  async #send(relative: string, { bytes, stamp }: Changed, counts: Published, conditional = false): Promise<void> {
    const key = this.#prefix + relative;
    const previous = this.#stored.get(relative);
    const condition = !conditional ? {} : previous === undefined ? { ifNoneMatch: "*" as const } : { ifMatch: `"${previous}"` };
    let etag: string;
    try {
      etag = await this.#bucket.put(key, bytes, condition);
    } catch (error) {
      if (error instanceof ConditionFailed) {
        throw dashError(
          "ERR_DASH_LOCKED",
          `${this.#bucket.url(key)} was written by another writer: this one no longer holds the experiment`,
        );
      }
      throw error;
    }
    this.#stored.set(relative, bare(etag) || md5(bytes));
    this.#checked.set(relative, stamp);
    counts.objects++;
    counts.bytes += bytes.byteLength;
  }

  /** One pass: tracks (segments, then manifest, then unnamed segments removed), files, the rest. */
  async publish(): Promise<Published> {
    const counts: Published = { objects: 0, bytes: 0, pending: 0 };
    const files = await walk(this.#dir);
    const manifests = files.filter((f) => /^tracks\/[^/]+\/metadata\.json$/.test(f));
    for (const manifest of manifests) await this.#publishTrack(manifest, counts);
    const plain = files.filter(
      (f) => !(f.startsWith("tracks/") && (f.endsWith(`/${METADATA}`) || SEGMENT.test(f.slice(f.lastIndexOf("/") + 1)))),
    );
    plain.sort((a, b) => Number(LAST.has(a)) - Number(LAST.has(b)));
    for (const relative of plain) {
      const changed = await this.#changed(relative).catch(() => undefined);
      if (changed !== undefined) await this.#send(relative, changed, counts);
    }
    counts.pending = await this.pending(files);
    return counts;
  }

  /** How many local files differ from the store (all of them, or `files`). */
  async pending(files?: string[]): Promise<number> {
    let pending = 0;
    for (const relative of files ?? (await walk(this.#dir))) {
      if (await this.#changed(relative).catch(() => undefined)) pending++;
    }
    return pending;
  }

  async #publishTrack(manifestPath: string, counts: Published): Promise<void> {
    const trackDir = manifestPath.slice(0, -METADATA.length);
    let manifest: Changed | undefined;
    try {
      manifest = await this.#changed(manifestPath);
    } catch {
      return; // replaced while we looked: the next pass sees the new one
    }
    if (manifest === undefined) return;
    const segments = segmentsOf(manifest.bytes);
    if (segments === undefined) return; // not a manifest of ours: the next pass looks again
    try {
      for (const segment of segments) {
        const changed = await this.#changed(trackDir + segment);
        if (changed !== undefined) await this.#send(trackDir + segment, changed, counts);
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return; // compacted meanwhile: next pass
      throw error;
    }
    this.#mayWrite();
    await this.#send(manifestPath, manifest, counts, true);
    const named = new Set(segments);
    const unnamed = [...this.#stored.keys()].filter(
      (k) => k.startsWith(trackDir) && SEGMENT.test(k.slice(trackDir.length)) && !named.has(k.slice(trackDir.length)),
    );
    if (unnamed.length > 0) {
      await this.#bucket.delete(unnamed.map((k) => this.#prefix + k));
      for (const k of unnamed) this.#stored.delete(k);
    }
  }
}

/** Writes `bytes` to `path` whole or not at all (a temporary file renamed into place). */
async function writeWhole(path: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(temporary, bytes);
  await rename(temporary, path);
}

/** Which store version each file of a fetched copy holds: ETag, and the file's size and mtime then. */
const CACHE_INDEX = ".dash-ingest-cache.json";

type CacheIndex = Record<string, { etag: string; stamp: string }>;

async function stampOf(path: string): Promise<string | undefined> {
  const info = await lstat(path).catch(() => undefined);
  return info?.isFile() ? `${info.size}:${info.mtimeMs}` : undefined;
}

/**
 * Copies the experiment at `prefix` into `dir`: each track's manifest first, then the segments it
 * names (a segment removed meanwhile by a compaction sends it back to the manifest), then the
 * rest. A file already in `dir` with the store's content is not fetched again (known from the
 * copy's index, or else by its MD5); files in `dir` the store does not have are removed when
 * `mirror` is set. Resolves with how many objects it fetched.
 */
export async function download(bucket: Bucket, prefix: string, dir: string, mirror: boolean): Promise<number> {
  let fetched = 0;
  const indexPath = join(dir, CACHE_INDEX);
  let index: CacheIndex = {};
  try {
    index = JSON.parse(await readFile(indexPath, "utf8")) as CacheIndex;
  } catch {
    // none yet, or unreadable: files are compared by content
  }
  for (let attempt = 1; ; attempt++) {
    const listed = new Map<string, string>();
    for (const object of await bucket.list(prefix)) {
      const relative = object.key.slice(prefix.length);
      const parts = plainParts(relative);
      if (parts !== undefined && relative !== LEASE_OBJECT && !parts.some(isPrivate)) listed.set(relative, bare(object.etag));
    }
    /** Makes `dir`'s copy of `relative` the store's; false if the store no longer has it. */
    const fetch = async (relative: string): Promise<boolean> => {
      const path = join(dir, relative);
      const etag = listed.get(relative);
      const known = Object.hasOwn(index, relative) ? index[relative] : undefined;
      if (known !== undefined && known.etag === etag && known.stamp === (await stampOf(path))) return true;
      const local = await readFile(path).catch(() => undefined);
      if (local !== undefined && md5(local) === etag) {
        const stamp = await stampOf(path);
        if (stamp !== undefined && etag !== undefined) index[relative] = { etag, stamp };
        return true;
      }
      const object = await bucket.get(prefix + relative);
      if (object === undefined) return false;
      await writeWhole(path, object.body);
      const stamp = await stampOf(path);
      if (stamp !== undefined) index[relative] = { etag: bare(object.etag), stamp };
      fetched++;
      return true;
    };
    let missing = false;
    const wanted = new Set<string>();
    for (const relative of listed.keys()) {
      if (!/^tracks\/[^/]+\/metadata\.json$/.test(relative)) continue;
      const trackDir = relative.slice(0, -METADATA.length);
      wanted.add(relative);
      const manifest = (await fetch(relative)) ? await readFile(join(dir, relative)) : undefined;
      for (const segment of manifest === undefined ? [] : (segmentsOf(manifest) ?? [])) {
        wanted.add(trackDir + segment);
        if (!(await fetch(trackDir + segment))) missing = true;
      }
    }
    for (const relative of listed.keys()) {
      const segmentOfTrack = relative.startsWith("tracks/") && SEGMENT.test(relative.slice(relative.lastIndexOf("/") + 1));
      if (wanted.has(relative) || segmentOfTrack) continue;
      wanted.add(relative);
      await fetch(relative);
    }
    if (missing && attempt < 5) continue; // a compaction replaced segments while we read: again
    if (missing) throw dashError("ERR_DASH_CORRUPT", `${bucket.url(prefix)}: a manifest names a segment the store does not have`);
    if (mirror) {
      for (const relative of await walk(dir)) {
        if (!wanted.has(relative)) await rm(join(dir, relative), { force: true });
      }
    }
    await writeWhole(indexPath, Buffer.from(JSON.stringify(Object.fromEntries(Object.entries(index).filter(([k]) => wanted.has(k))))));
    return fetched;
  }
}
