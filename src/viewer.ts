/**
 * `dash-ingest view`: a local web page (loopback only) with one chart per track (uPlot), a time
 * cursor shared by all charts, and the saved frame nearest the cursor beside them. Other
 * experiments of the same project can be overlaid on the same charts. It reads through the
 * engine's read API, reopening an experiment per request, so it works while experiments are
 * still being written.
 */
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { Experiment } from "./experiment.js";
import type { FileRecord } from "./files.js";
import { findExperiments } from "./native.js";
import type { ColumnValues } from "./rows.js";
import { isStoreUrl } from "./store/bucket.js";
import { storedExperiments } from "./store/listing.js";

export interface Viewer {
  url: string;
  close(): Promise<void>;
}

/** A track as the page plots it: numeric fields as columns, plus `frame` names if present. */
interface TrackData {
  topic: string;
  x: { timestamp: number[]; step: number[] | null };
  series: Record<string, (number | null)[]>;
  /** Vector fields longer than `MAX_ELEMENT_LINES`: per row the vector pooled to at most `HEATMAP_BINS` bins. */
  heatmaps: Record<string, { length: number; rows: (number[] | null)[] }>;
  frames: (string | null)[] | null;
  /** Rows sent (after downsampling). */
  rows: number;
}

async function withExperiment<T>(prefix: string, dashRoot: string, use: (e: Experiment) => Promise<T>): Promise<T> {
  const experiment = await Experiment.open(prefix, { dashRoot });
  try {
    return await use(experiment);
  } finally {
    await experiment.close();
  }
}

/**
 * What a chart `width` pixels wide draws of `topic` between `start` and `end`: the engine keeps
 * only the rows it needs (M4), so a 10M-row track costs what a small one does.
 */
async function trackData(experiment: Experiment, topic: string, start: number, end: number, width: number): Promise<TrackData> {
  const { count, columns } = await experiment.track(topic).read({ format: "columns", start, end, chartWidth: width });
  const numbers = (values: ColumnValues): (number | null)[] => Array.from(values, (v) => (typeof v === "number" ? v : null));
  const series: Record<string, (number | null)[]> = {};
  const heatmaps: TrackData["heatmaps"] = {};
  for (const [name, values] of Object.entries(columns)) {
    if (name === "timestamp" || name === "step") continue;
    if (values instanceof Float64Array || values.some((v) => typeof v === "number")) series[name] = numbers(values);
    else {
      // Vectors (typed arrays, lists of numbers): a line per element, or a heatmap when long.
      const vectors = values.map((v) =>
        ArrayBuffer.isView(v) || (Array.isArray(v) && v.every((e) => typeof e === "number")) ? (v as ArrayLike<number | bigint>) : null,
      );
      const length = vectors.reduce((longest, v) => Math.max(longest, v?.length ?? 0), 0);
      if (length > MAX_ELEMENT_LINES) heatmaps[name] = { length, rows: vectors.map((v) => (v ? pooled(v, HEATMAP_BINS) : null)) };
      else for (let i = 0; i < length; i++) series[`${name}[${i}]`] = vectors.map((v) => (v && i < v.length ? Number(v[i]) : null));
    }
  }
  const frame = columns.frame;
  const step = columns.step === undefined ? null : stepsAt(columns.timestamp, numbers(columns.step));
  const hasFrames = frame !== undefined && !(frame instanceof Float64Array) && frame.some((v) => typeof v === "string");
  return {
    topic,
    x: {
      timestamp: Array.from(columns.timestamp),
      step,
    },
    series,
    heatmaps,
    frames: hasFrames ? Array.from(frame, (v) => (typeof v === "string" ? v : null)) : null,
    rows: count,
  };
}

/**
 * The step at each row, for a step x axis. A chart of a long track drawn from summaries has rows
 * holding one field each (see `chartWidth`): a row without a step takes it by linear
 * interpolation in time between the nearest rows with one, within a run (steps not going back;
 * otherwise the nearer of the two). Each such row is a value within one pixel column of the
 * chart, so the error stays under a pixel.
 */
function stepsAt(timestamps: Float64Array, steps: (number | null)[]): number[] {
  const out = new Array<number>(steps.length).fill(Number.NaN);
  let before = -1;
  for (let row = 0; row < steps.length; row++) {
    if (steps[row] === null) continue;
    out[row] = steps[row] as number;
    for (let gap = before + 1; gap < row; gap++) {
      const [t0, t1, t] = [timestamps[before] as number, timestamps[row] as number, timestamps[gap] as number];
      const [s0, s1] = [out[before] as number, out[row] as number];
      if (before < 0) out[gap] = s1;
      else if (s1 >= s0 && t1 > t0) out[gap] = s0 + ((s1 - s0) * (t - t0)) / (t1 - t0);
      else out[gap] = t - t0 <= t1 - t ? s0 : s1;
    }
    before = row;
  }
  if (before >= 0) out.fill(out[before] as number, before + 1);
  return out;
}

/** Elements of a vector field drawn as lines of their own (`q[0]`, `q[1]`, …); longer vectors are a heatmap. */
const MAX_ELEMENT_LINES = 8;
/** Rows of a heatmap at most: a longer vector is pooled (each bin the mean of its elements). */
const HEATMAP_BINS = 64;

/** `vector` as at most `bins` numbers, each the mean of a run of consecutive elements. */
function pooled(vector: ArrayLike<number | bigint>, bins: number): number[] {
  const count = Math.min(bins, vector.length);
  return Array.from({ length: count }, (_, bin) => {
    const [from, to] = [Math.floor((bin * vector.length) / count), Math.floor(((bin + 1) * vector.length) / count)];
    let sum = 0;
    for (let i = from; i < to; i++) sum += Number(vector[i]);
    return sum / (to - from);
  });
}

/** A number query parameter, or `fallback`. */
function numberParam(url: URL, name: string, fallback: number): number {
  const value = Number(url.searchParams.get(name) ?? Number.NaN);
  return Number.isFinite(value) ? value : fallback;
}

async function imageFiles(experiment: Experiment): Promise<{ prefix: string; filename: string; step: number | null }[]> {
  const records = await experiment.files().listAll();
  return records
    .filter((r: FileRecord) => r.contentType.startsWith("image/"))
    .map((r: FileRecord) => {
      const digits = /(\d+)(?!.*\d)/.exec(r.filename);
      return { prefix: r.path.replace(/^\//, ""), filename: r.filename, step: digits ? Number(digits[1]) : null };
    })
    .sort((a, b) => (a.step ?? 0) - (b.step ?? 0) || a.filename.localeCompare(b.filename));
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
  res.end(body);
}

/** The project of an experiment: its prefix without the last part ("" for a top-level one). */
function projectOf(prefix: string): string {
  return prefix.includes("/") ? prefix.slice(0, prefix.lastIndexOf("/")) : "";
}

/** The experiments of `project` under `dashRoot`, sorted. */
async function projectExperiments(dashRoot: string, project: string): Promise<string[]> {
  const all = isStoreUrl(dashRoot) ? (await storedExperiments(dashRoot)).map((e) => e.prefix) : findExperiments(dashRoot);
  return all.filter((prefix) => projectOf(prefix) === project).sort();
}

/**
 * Serves the viewer for `prefixes`: the first experiment's charts and frames, the others overlaid
 * on its charts (any experiment of its project can be added on the page).
 */
export async function startViewer(prefixes: string | string[], dashRoot: string, port = 0): Promise<Viewer> {
  const shown = typeof prefixes === "string" ? [prefixes] : [...new Set(prefixes)];
  const prefix = shown[0];
  if (prefix === undefined) throw new TypeError("dash-ingest view: name at least one experiment");
  // Fails early (ERR_DASH_NOT_FOUND) for a missing experiment.
  for (const each of shown) await withExperiment(each, dashRoot, async () => undefined);
  const project = projectOf(prefix);
  /** The project's experiments as last listed (listed again for `/api/experiments` or a name not in it). */
  let listed: string[] = [];
  const listProject = async (): Promise<string[]> => {
    listed = await projectExperiments(dashRoot, project);
    return listed;
  };
  /** An experiment a request may read: one named at start, or one of the project. */
  const readable = async (requested: string | null): Promise<string> => {
    const name = requested ?? prefix;
    if (shown.includes(name) || listed.includes(name) || (projectOf(name) === project && (await listProject()).includes(name))) return name;
    throw Object.assign(new Error(`no experiment ${JSON.stringify(name)} in this viewer's project`), { code: "ERR_DASH_NOT_FOUND" });
  };
  const uplotJs = readFileSync(require.resolve("uplot/dist/uPlot.iife.min.js"));
  const uplotCss = readFileSync(require.resolve("uplot/dist/uPlot.min.css"));
  // The page lives in src/ (shipped with the package), next to this file before and after compiling.
  const template = readFileSync(join(__dirname, "..", "src", "viewer-page.html"), "utf8");
  const page = template.replaceAll("{{PREFIX}}", prefix.replace(/[<>&"']/g, ""));

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    switch (url.pathname) {
      case "/":
        return send(res, 200, "text/html; charset=utf-8", page);
      case "/uplot.js":
        return send(res, 200, "text/javascript", uplotJs);
      case "/uplot.css":
        return send(res, 200, "text/css", uplotCss);
      case "/api/experiments":
        return send(res, 200, "application/json", JSON.stringify({ shown, project: await listProject() }));
      case "/api/tracks": {
        const experiment = await readable(url.searchParams.get("experiment"));
        return send(res, 200, "application/json", JSON.stringify(await withExperiment(experiment, dashRoot, (e) => e.tracks.list())));
      }
      case "/api/track": {
        const experiment = await readable(url.searchParams.get("experiment"));
        const topic = url.searchParams.get("topic") ?? "";
        const start = numberParam(url, "start", -Infinity);
        const end = numberParam(url, "end", Infinity);
        const width = Math.min(Math.max(Math.round(numberParam(url, "width", 1000)), 1), 10_000);
        const data = await withExperiment(experiment, dashRoot, (e) => trackData(e, topic, start, end, width));
        return send(res, 200, "application/json", JSON.stringify(data));
      }
      case "/api/frames":
        return send(res, 200, "application/json", JSON.stringify(await withExperiment(prefix, dashRoot, imageFiles)));
      case "/file": {
        const filePrefix = url.searchParams.get("prefix") ?? "";
        const name = url.searchParams.get("name") ?? "";
        const bytes = await withExperiment(prefix, dashRoot, (e) => e.files(filePrefix).read(name));
        const type = /\.png$/i.test(name) ? "image/png" : /\.jpe?g$/i.test(name) ? "image/jpeg" : "application/octet-stream";
        return send(res, 200, type, bytes);
      }
      default:
        return send(res, 404, "text/plain", "not found");
    }
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const code = (error as { code?: string }).code;
      const status = code === "ERR_DASH_NOT_FOUND" ? 404 : error instanceof TypeError || error instanceof RangeError ? 400 : 500;
      send(res, status, "text/plain", `${(error as Error).message}${code ? ` (${code})` : ""}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
