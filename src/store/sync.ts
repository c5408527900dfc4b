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
import { type FileHandle, lstat, mkdir, open, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { dashError } from "../errors.js";
import { segmentRowGroups } from "../native.js";
import { type Bucket, ConditionFailed } from "./bucket.js";
import { LEASE_OBJECT } from "./lease.js";

const METADATA = "metadata.json";
const SEGMENT = /^seg-\d{8}\.parquet$/;
/** Written after everything else of their kind: they name what the rest holds. */
const LAST = new Set(["files/.files_metadata.json", "experiment.json"]);

/**
 * How long a segment no manifest names stays in the store: a reader that read the manifest before
 * still finds it (a compaction does not break a read in flight).
 */
const RETIRED_KEPT_MS = 30_000;

/** How often a file that grows in place (logs, metrics, parameters) is sent again, at most. */
const RESEND_MS = 5_000;

/** Objects sent at once (the store takes them in parallel; each is read whole into memory). */
const UPLOADS = 4;

/** Runs `work` on every item, `width` at a time; once all lanes stopped, throws the first failure. */
async function eachAtOnce<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  const failures: unknown[] = [];
  let next = 0;
  const lane = async () => {
    while (next < items.length && failures.length === 0) {
      try {
        await work(items[next++] as T);
      } catch (error) {
        failures.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
  if (failures.length > 0) throw failures[0];
}

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

/** A segment as a manifest describes it: file, timestamps, size in bytes (if recorded). */
interface SegmentRange {
  file: string;
  min: number;
  max: number;
  bytes: number | undefined;
}

/**
 * A track manifest's topic and segments (time ranges, sizes), or `undefined` if it is not one we
 * can trust (every segment named as the engine names them).
 */
function parseManifest(manifest: Uint8Array): { topic: unknown; segments: SegmentRange[] } | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(manifest).toString("utf8")) as {
      topic?: unknown;
      segments?: { file?: unknown; minTimestamp?: unknown; maxTimestamp?: unknown; bytes?: unknown }[];
    };
    const segments = (parsed.segments ?? []).map((s) => ({
      file: s.file,
      min: typeof s.minTimestamp === "number" ? s.minTimestamp : Number.NEGATIVE_INFINITY,
      max: typeof s.maxTimestamp === "number" ? s.maxTimestamp : Number.POSITIVE_INFINITY,
      bytes: typeof s.bytes === "number" && Number.isSafeInteger(s.bytes) && s.bytes > 0 ? s.bytes : undefined,
    }));
    const trusted = segments.every((s): s is SegmentRange => typeof s.file === "string" && SEGMENT.test(s.file));
    return trusted ? { topic: parsed.topic, segments } : undefined;
  } catch {
    return undefined;
  }
}

/** The segment files a manifest names, or `undefined` if it is not one we can trust. */
function segmentsOf(manifest: Uint8Array): string[] | undefined {
  return parseManifest(manifest)?.segments.map((s) => s.file);
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
  /** When each file other than segments and manifests was last sent (see `RESEND_MS`). */
  readonly #sentAt = new Map<string, number>();
  /** Segments no manifest names any more, and since when (see `sweep`). */
  readonly #retired = new Map<string, number>();
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

  /**
   * One pass: tracks (segments, then manifest, then replaced segments retired), files, the rest. A
   * file that grows in place (logs, metrics) is sent again at most every `RESEND_MS`, except in the
   * `final` pass (an object store cannot append: each send is the whole file).
   */
  async publish(final = false): Promise<Published> {
    const counts: Published = { objects: 0, bytes: 0, pending: 0 };
    const now = Date.now();
    const files = await walk(this.#dir);
    const manifests = files.filter((f) => /^tracks\/[^/]+\/metadata\.json$/.test(f));
    for (const manifest of manifests) await this.#publishTrack(manifest, counts);
    const plain = files.filter(
      (f) => !(f.startsWith("tracks/") && (f.endsWith(`/${METADATA}`) || SEGMENT.test(f.slice(f.lastIndexOf("/") + 1)))),
    );
    const sendIfChanged = async (relative: string) => {
      const sent = this.#sentAt.get(relative);
      if (!final && sent !== undefined && now - sent < RESEND_MS) return;
      const changed = await this.#changed(relative).catch(() => undefined);
      if (changed === undefined) return;
      await this.#send(relative, changed, counts);
      this.#sentAt.set(relative, now);
    };
    await eachAtOnce(
      plain.filter((f) => !LAST.has(f)),
      UPLOADS,
      sendIfChanged,
    );
    for (const relative of plain.filter((f) => LAST.has(f))) await sendIfChanged(relative);
    await this.sweep(false);
    counts.pending = await this.pending(files);
    return counts;
  }

  /**
   * How many local files (all of them, or `files`) are not known to equal the store: changed (by
   * size or mtime) since a pass last sent or checked them. Cheap (no file is read), so `flush()`
   * can count on it; a pass that finds one unchanged in content clears it.
   */
  async pending(files?: string[]): Promise<number> {
    let pending = 0;
    for (const relative of files ?? (await walk(this.#dir))) {
      const stamp = await stampOf(join(this.#dir, relative));
      if (stamp !== undefined && this.#checked.get(relative) !== stamp) pending++;
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
      await eachAtOnce(segments, UPLOADS, async (segment) => {
        const changed = await this.#changed(trackDir + segment);
        if (changed !== undefined) await this.#send(trackDir + segment, changed, counts);
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return; // compacted meanwhile: next pass
      throw error;
    }
    this.#mayWrite();
    await this.#send(manifestPath, manifest, counts, true);
    const named = new Set(segments);
    const now = Date.now();
    for (const key of this.#stored.keys()) {
      const file = key.slice(trackDir.length);
      if (key.startsWith(trackDir) && SEGMENT.test(file) && !named.has(file) && !this.#retired.has(key)) this.#retired.set(key, now);
    }
  }

  /**
   * Deletes the segments no manifest names any more: those retired `RETIRED_KEPT_MS` ago, or all
   * with `all` (when the run ends). Until then a reader holding an older manifest still finds them.
   */
  async sweep(all: boolean): Promise<void> {
    const due = [...this.#retired].filter(([, since]) => all || Date.now() - since >= RETIRED_KEPT_MS).map(([key]) => key);
    if (due.length === 0) return;
    await this.#bucket.delete(due.map((key) => this.#prefix + key));
    for (const key of due) {
      this.#stored.delete(key);
      this.#retired.delete(key);
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

/**
 * A file of the copy: the store's ETag and the file's size and mtime when last written; for a
 * segment fetched in part, the byte ranges present (sorted, disjoint, `[start, end)`).
 */
type CacheIndex = Record<string, { etag: string; stamp: string; present?: [number, number][] }>;

/** Segments up to this size are fetched whole; larger ones by row group. */
const WHOLE_SEGMENT_BYTES = 1 << 20;
/** The last bytes fetched first from a segment fetched in part: its footer, usually whole. */
const TAIL_BYTES = 64 << 10;

/** Whether `[start, end)` lies within one of `ranges`. */
function covered(ranges: [number, number][], start: number, end: number): boolean {
  return ranges.some(([a, b]) => a <= start && end <= b);
}

/** `ranges` with `[start, end)` added, merged. */
function withRange(ranges: [number, number][], start: number, end: number): [number, number][] {
  const all = [...ranges, [start, end] as [number, number]].sort((x, y) => x[0] - y[0]);
  const merged: [number, number][] = [];
  for (const [a, b] of all) {
    const last = merged[merged.length - 1];
    if (last !== undefined && a <= last[1]) last[1] = Math.max(last[1], b);
    else merged.push([a, b]);
  }
  return merged;
}

async function readAt(handle: FileHandle, start: number, end: number): Promise<Buffer> {
  const bytes = Buffer.alloc(end - start);
  await handle.read(bytes, 0, bytes.length, start);
  return bytes;
}

async function stampOf(path: string): Promise<string | undefined> {
  const info = await lstat(path).catch(() => undefined);
  return info?.isFile() ? `${info.size}:${info.mtimeMs}` : undefined;
}

/**
 * A local copy of the experiment at `prefix` (its key prefix, ending in "/") in `dir`: readers read
 * it as a local experiment. `refresh` brings every track's manifest, then (if asked) the segments
 * it names, then the rest; `fetchSegments` brings only the segments a time range needs. A file
 * already in `dir` with the store's content is not fetched again (known from the copy's index, or
 * else by its MD5). A segment a compaction removed meanwhile sends the copy back to the manifests.
 */
export class StoreCopy {
  readonly #bucket: Bucket;
  readonly #prefix: string;
  readonly #dir: string;
  #index: CacheIndex | undefined;
  /** The store's ETags as of the last listing. */
  #listed = new Map<string, string>();
  fetched = 0;

  constructor(bucket: Bucket, prefix: string, dir: string) {
    this.#bucket = bucket;
    this.#prefix = prefix;
    this.#dir = dir;
  }

  async #loadIndex(): Promise<CacheIndex> {
    if (this.#index === undefined) {
      try {
        this.#index = JSON.parse(await readFile(join(this.#dir, CACHE_INDEX), "utf8")) as CacheIndex;
      } catch {
        this.#index = {}; // none yet, or unreadable: files are compared by content
      }
    }
    return this.#index;
  }

  async #saveIndex(): Promise<void> {
    await writeWhole(join(this.#dir, CACHE_INDEX), Buffer.from(JSON.stringify(await this.#loadIndex())));
  }

  /** Makes the copy of `relative` the store's; false if the store no longer has it. */
  async #fetch(relative: string): Promise<boolean> {
    const index = await this.#loadIndex();
    const path = join(this.#dir, relative);
    const etag = this.#listed.get(relative);
    const known = Object.hasOwn(index, relative) ? index[relative] : undefined;
    const whole = known !== undefined && known.present === undefined;
    if (whole && (etag === undefined || known.etag === etag) && known.stamp === (await stampOf(path))) return true;
    const local = await readFile(path).catch(() => undefined);
    if (local !== undefined && etag !== undefined && md5(local) === etag) {
      const stamp = await stampOf(path);
      if (stamp !== undefined) index[relative] = { etag, stamp };
      return true;
    }
    const object = await this.#bucket.get(this.#prefix + relative);
    if (object === undefined) return false;
    await writeWhole(path, object.body);
    const stamp = await stampOf(path);
    if (stamp !== undefined) index[relative] = { etag: bare(object.etag), stamp };
    this.fetched++;
    return true;
  }

  /**
   * Brings the copy up to the store: manifests, their segments when `segments` is set, the rest.
   * With `mirror`, files the store no longer has (segments no manifest names) are removed.
   */
  async refresh(options: { segments: boolean; mirror: boolean }): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      this.#listed = new Map();
      for (const object of await this.#bucket.list(this.#prefix)) {
        const relative = object.key.slice(this.#prefix.length);
        const parts = plainParts(relative);
        if (parts !== undefined && relative !== LEASE_OBJECT && !parts.some(isPrivate)) this.#listed.set(relative, bare(object.etag));
      }
      let missing = false;
      const wanted = new Set<string>();
      for (const relative of this.#listed.keys()) {
        if (!/^tracks\/[^/]+\/metadata\.json$/.test(relative)) continue;
        const trackDir = relative.slice(0, -METADATA.length);
        wanted.add(relative);
        const manifest = (await this.#fetch(relative)) ? await readFile(join(this.#dir, relative)) : undefined;
        for (const segment of manifest === undefined ? [] : (segmentsOf(manifest) ?? [])) {
          wanted.add(trackDir + segment);
          if (options.segments && !(await this.#fetch(trackDir + segment))) missing = true;
        }
      }
      for (const relative of this.#listed.keys()) {
        const segmentOfTrack = relative.startsWith("tracks/") && SEGMENT.test(relative.slice(relative.lastIndexOf("/") + 1));
        if (wanted.has(relative) || segmentOfTrack) continue;
        wanted.add(relative);
        await this.#fetch(relative);
      }
      if (missing && attempt < 5) continue; // a compaction replaced segments while we read: again
      if (missing)
        throw dashError("ERR_DASH_CORRUPT", `${this.#bucket.url(this.#prefix)}: a manifest names a segment the store does not have`);
      if (options.mirror) {
        for (const relative of await walk(this.#dir)) {
          if (!wanted.has(relative)) await rm(join(this.#dir, relative), { force: true });
        }
      }
      const index = await this.#loadIndex();
      for (const key of Object.keys(index)) if (!wanted.has(key)) delete index[key];
      await this.#saveIndex();
      return;
    }
  }

  /**
   * Makes the copy of segment `relative` (`size` bytes) hold its footer and every row group that
   * may hold timestamps in `[start, end]`, by ranged GETs of what it lacks; the rest of the file
   * stays a hole (the engine's range reads skip those row groups by the same statistics). False if
   * the store no longer has the segment.
   */
  async #fetchRowGroups(relative: string, size: number, start: number, end: number): Promise<boolean> {
    const index = await this.#loadIndex();
    const path = join(this.#dir, relative);
    const key = this.#prefix + relative;
    const listed = this.#listed.get(relative);
    const known = Object.hasOwn(index, relative) ? index[relative] : undefined;
    const current = known !== undefined && known.stamp === (await stampOf(path)) && (listed === undefined || known.etag === listed);
    if (current && known.present === undefined) return true;
    let present: [number, number][] = current ? (known.present ?? []) : [];
    let etag = current ? known.etag : undefined;
    await mkdir(dirname(path), { recursive: true });
    const handle = await open(path, current ? "r+" : "w+");
    let replaced = false;
    let ok = true;
    try {
      if (!current) await handle.truncate(size);
      const fetch = async (from: number, to: number): Promise<boolean> => {
        if (covered(present, from, to)) return true;
        const object = await this.#bucket.get(key, [from, to]);
        if (object === undefined) return false;
        if (object.body.byteLength !== to - from || (etag !== undefined && bare(object.etag) !== etag)) {
          replaced = true; // not the object the manifest described: fetch it whole instead
          return false;
        }
        etag = bare(object.etag);
        await handle.write(object.body, 0, object.body.byteLength, from);
        present = withRange(present, from, to);
        this.fetched++;
        return true;
      };
      let tail = Math.min(size, TAIL_BYTES);
      ok = await fetch(size - tail, size);
      let footer = ok ? segmentRowGroups(await readAt(handle, size - tail, size), size, relative) : undefined;
      if (footer?.needsTail != null) {
        tail = footer.needsTail;
        ok = await fetch(size - tail, size);
        footer = ok ? segmentRowGroups(await readAt(handle, size - tail, size), size, relative) : undefined;
      }
      for (const [i, group] of (footer?.rowGroups ?? []).entries()) {
        const { minTimestamp: lo, maxTimestamp: hi } = group;
        if (lo != null && hi != null && (hi < start || lo > end)) continue;
        // The first row group comes with the file's leading magic bytes, for readers that check them.
        ok = ok && (await fetch(i === 0 ? 0 : group.start, group.end));
      }
    } finally {
      await handle.close();
      const stamp = await stampOf(path);
      // Every byte present: the copy is whole, as if fetched at once.
      const whole = covered(present, 0, size);
      if (stamp !== undefined && etag !== undefined && !replaced) index[relative] = whole ? { etag, stamp } : { etag, stamp, present };
    }
    return replaced ? this.#refetchWhole(relative) : ok;
  }

  async #refetchWhole(relative: string): Promise<boolean> {
    delete (await this.#loadIndex())[relative];
    await rm(join(this.#dir, relative), { force: true });
    return this.#fetch(relative);
  }

  /**
   * Brings the segments of track `topic` (of every track when undefined) that hold rows in
   * `[start, end]`, as the copy's manifests name them.
   */
  async fetchSegments(topic: string | undefined, start: number, end: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let missing = false;
      for (const dir of await readdir(join(this.#dir, "tracks")).catch(() => [])) {
        const bytes = await readFile(join(this.#dir, "tracks", dir, METADATA)).catch(() => undefined);
        const manifest = bytes === undefined ? undefined : parseManifest(bytes);
        if (manifest === undefined || (topic !== undefined && manifest.topic !== topic)) continue;
        for (const segment of manifest.segments) {
          if (segment.max < start || segment.min > end) continue;
          const relative = `tracks/${dir}/${segment.file}`;
          const present =
            segment.bytes === undefined || segment.bytes <= WHOLE_SEGMENT_BYTES
              ? await this.#fetch(relative)
              : await this.#fetchRowGroups(relative, segment.bytes, start, end);
          if (!present) missing = true;
        }
      }
      await this.#saveIndex();
      if (!missing) return;
      if (attempt === 5)
        throw dashError("ERR_DASH_CORRUPT", `${this.#bucket.url(this.#prefix)}: a manifest names a segment the store does not have`);
      await this.refresh({ segments: false, mirror: true }); // compacted meanwhile: newer manifests
    }
  }
}
