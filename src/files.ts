/**
 * `experiment.files(prefix)`: files stored in the ml-dash layout (`files/<prefix>/<id>/<name>`,
 * records in `files/.files_metadata.json`). `saveImage` copies the pixels and returns at once; the
 * engine encodes JPEG/PNG on its writer thread, and `flush()`/`complete()` wait for it.
 */
import { dashRangeError, dashTypeError, describe } from "./errors.js";
import type { FileRecord } from "./native.js";
import type { Recorder } from "./recorder.js";
import { pythonJson } from "./python-json.js";

/** The shape of a canvas `ImageData`: row-major, interleaved channels. */
export interface ImageInput {
  data: Uint8Array | Uint8ClampedArray | Float32Array | Float64Array;
  width: number;
  height: number;
  /** 1 (gray), 3 (RGB) or 4 (RGBA); default: what `data.length` implies. */
  channels?: number;
}

export interface SaveImageOptions {
  /** File name; its extension picks the format: `.jpg`/`.jpeg` or `.png`. */
  to: string;
  /** JPEG quality, 1–100 (default 95). */
  quality?: number;
  metadata?: Record<string, unknown>;
}

export interface SaveOptions {
  to: string;
  metadata?: Record<string, unknown>;
}

/** A file's record, as the SDK writes it (declared by the engine, which owns the format). */
export type { FileRecord };

function pixelType(data: unknown): "u8" | "f32" | "f64" {
  if (data instanceof Uint8Array || data instanceof Uint8ClampedArray) return "u8";
  if (data instanceof Float32Array) return "f32";
  if (data instanceof Float64Array) return "f64";
  throw dashTypeError(
    "ERR_DASH_INVALID_IMAGE",
    `image.data must be a Uint8Array, Uint8ClampedArray, Float32Array or Float64Array, got ${describe(data)}`,
  );
}

function positiveInteger(what: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0 || value > 0xffff_ffff) {
    throw dashRangeError("ERR_DASH_INVALID_IMAGE", `${what} must be a positive integer, got ${describe(value)}`);
  }
  return value;
}

function fileName(options: unknown, method: string): string {
  if (typeof options !== "object" || options === null || typeof (options as { to?: unknown }).to !== "string") {
    throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `${method} needs { to: "<file name>" }`);
  }
  return (options as { to: string }).to;
}

function metadataText(metadata: unknown): string | undefined {
  return metadata === undefined ? undefined : pythonJson(metadata, "file metadata", "reject");
}

/**
 * A glob as Python's `fnmatch` reads it (the SDK's `list(pattern)`): `*` any run of characters
 * (`/` included), `?` one character, `[seq]` / `[!seq]` one character in / not in the set; an
 * unclosed `[` is itself.
 */
export function globPattern(glob: string): RegExp {
  let source = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === "*") source += ".*";
    else if (c === "?") source += ".";
    else if (c === "[") {
      // As fnmatch: a `]` right after `[` or `[!` belongs to the set.
      let end = i + 1;
      if (glob[end] === "!") end++;
      if (glob[end] === "]") end++;
      end = glob.indexOf("]", end);
      if (end < 0) {
        source += "\\[";
        continue;
      }
      let set = glob
        .slice(i + 1, end)
        .replace(/\\/g, "\\\\")
        .replace(/\]/g, "\\]");
      if (set.startsWith("!")) set = `^${set.slice(1)}`;
      else if (set.startsWith("^")) set = `\\${set}`;
      source += `[${set}]`;
      i = end;
    } else source += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`, "su");
}

export class FilesBuilder {
  readonly prefix: string;
  readonly #recorder: Recorder;
  readonly #experimentId: string;

  /** @internal Use `experiment.files(prefix)`. */
  constructor(recorder: Recorder, prefix: string, experimentId: string) {
    this.prefix = prefix.replace(/^\/+/, "");
    this.#recorder = recorder;
    this.#experimentId = experimentId;
  }

  #target(filename: string, metadata: unknown) {
    return { experimentId: this.#experimentId, prefix: this.prefix, filename, metadata: metadataText(metadata) };
  }

  /**
   * Saves an image as `to` (JPEG or PNG by extension). `Uint8Array`/`Uint8ClampedArray` pixels are
   * used as they are; float pixels in [0, 1] are scaled to 0–255. Returns at once.
   */
  saveImage(image: ImageInput, options: SaveImageOptions): this {
    if (typeof image !== "object" || image === null) {
      throw dashTypeError("ERR_DASH_INVALID_IMAGE", `saveImage needs { data, width, height }, got ${describe(image)}`);
    }
    const to = fileName(options, "saveImage");
    const type = pixelType(image.data);
    const width = positiveInteger("image.width", image.width);
    const height = positiveInteger("image.height", image.height);
    const channels = image.channels ?? image.data.length / (width * height);
    if (!Number.isInteger(channels) || ![1, 3, 4].includes(channels)) {
      throw dashRangeError(
        "ERR_DASH_INVALID_IMAGE",
        `image of ${width}x${height} with ${image.data.length} values: channels must be 1, 3 or 4, got ${channels}`,
      );
    }
    const quality = options.quality ?? 95;
    if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
      throw dashRangeError("ERR_DASH_INVALID_ARGUMENT", `quality must be an integer from 1 to 100, got ${describe(quality)}`);
    }
    const data = image.data;
    // A view of a detached buffer has no bytes (and its buffer cannot be viewed again).
    const bytes = data.byteLength === 0 ? new Uint8Array(0) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.#recorder.writer(`image "${to}"`).saveImage(this.#target(to, options.metadata), bytes, type, width, height, channels, quality);
    return this;
  }

  /** Saves bytes, a string (UTF-8) or a JSON-representable object as `to`. Returns at once. */
  save(content: Uint8Array | string | Record<string, unknown> | unknown[], options: SaveOptions): this {
    const to = fileName(options, "save");
    let bytes: Uint8Array;
    if (content instanceof Uint8Array) bytes = content.byteLength === 0 ? new Uint8Array(0) : content;
    else if (typeof content === "string") bytes = Buffer.from(content, "utf8");
    // As the SDK's `save_json`: `json.dump(content, f, indent=2)`.
    else if (typeof content === "object" && content !== null)
      bytes = Buffer.from(pythonJson(content, "file content", "literal", 2), "utf8");
    else throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `save takes bytes, a string or an object, got ${describe(content)}`);
    this.#recorder.writer(`file "${to}"`).saveFile(this.#target(to, options.metadata), bytes);
    return this;
  }

  /**
   * The records of this prefix's files, in its subdirectories too (every file of the experiment for
   * `files()`), optionally those whose name, or path and name (`frames/a.png`), match `glob`
   * (`*`, `?`, `[seq]`), as the SDK's `list(pattern)`.
   */
  async list(glob?: string): Promise<FileRecord[]> {
    if (glob !== undefined && typeof glob !== "string") {
      throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `list: glob must be a string, got ${describe(glob)}`);
    }
    const dir = this.prefix.replace(/\/+$/, "");
    const inPrefix = (path: string) => dir === "" || path === `/${dir}` || path.startsWith(`/${dir}/`);
    const pattern = glob === undefined ? undefined : globPattern(glob.replace(/^\/+/, ""));
    const matches = (r: FileRecord) => {
      if (pattern === undefined) return true;
      const full = `${r.path.replace(/\/+$/, "")}/${r.filename}`.replace(/^\/+/, "");
      return pattern.test(r.filename) || pattern.test(full);
    };
    const records = await this.#recorder.reader().listFiles();
    return records.filter((r) => inPrefix(r.path) && matches(r));
  }

  /** The records of every file of the experiment, whatever its prefix. */
  async listAll(): Promise<FileRecord[]> {
    return this.#recorder.reader().listFiles();
  }

  /** The bytes of file `name` of this prefix (`name` may hold a directory, as `to` in `save`). */
  read(name: string): Promise<Buffer> {
    if (typeof name !== "string") throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `read: name must be a string, got ${describe(name)}`);
    return this.#recorder.reader().readFile(this.prefix, name);
  }

  /** Same as `read` (the SDK's name). */
  download(name: string): Promise<Buffer> {
    return this.read(name);
  }
}
