#!/usr/bin/env node
/**
 * The `dash-ingest` command line: look at experiments on disk without writing code.
 *
 *   dash-ingest ls [dashRoot]
 *   dash-ingest inspect <experiment>
 *   dash-ingest tail <experiment> <topic> [-n N] [--follow]
 *   dash-ingest export <experiment> [topic] --format csv|jsonl|parquet|arrow|ml-dash
 *   dash-ingest view <experiment> [<experiment> …]
 *   dash-ingest serve [--port 3000] [--host 127.0.0.1] [--token T …]
 *   dash-ingest push <experiment> --dash-url URL [--token T] [--timeout S]
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Experiment, localRoot } from "./experiment.js";
import { describeExperiment, findExperiments } from "./native.js";
import { showProgress } from "./progress.js";
import { push } from "./remote/push.js";
import { startServer } from "./serve.js";
import { isStoreUrl } from "./store/bucket.js";
import { storedExperiments } from "./store/listing.js";
import { startViewer } from "./viewer.js";

const HELP = `Usage: dash-ingest <command> [options]

Commands:
  ls [dashRoot]                          experiments with status, tags, track/metric/file counts, size
  inspect <experiment>                   tracks (rows, columns, time range, segments, bytes/row),
                                         metrics, logs, params, files
  tail <experiment> <topic> [-n N]       the last N rows (default 10) as JSON lines;
       [--follow]                        with --follow, keep printing new rows
  export <experiment> [topic]            a topic's rows as --format csv, jsonl, parquet or arrow
       --format csv|jsonl|parquet|         (an Arrow IPC stream), to --out FILE or stdout;
                arrow|ml-dash            --start/--end seconds, --columns a,b; --format ml-dash
       [--out FILE] [--start S] [--end S]  writes the SDK's data.jsonl (of every track without a
       [--columns a,b]                   topic), a snapshot the Python ml-dash SDK reads
  view <experiment> [more …] [--port N]  serve a local page (127.0.0.1): one chart per track, a
                                         shared time cursor, the frame nearest the cursor; more
                                         experiments of its project overlaid on its charts
  serve [--port 3000] [--host H]         an ML-Dash server: the Python ml-dash SDK with
        [--token T …]                    dash_url="http://host:port" records into the dash root;
        [--max-body-bytes N]             tokens also from $DASH_INGEST_TOKENS (comma-separated);
        [--max-open-experiments N]       without a token, loopback only; --port 0 picks a port;
        [--idle-release S]               bodies over N bytes (default 256 MiB) get 413; past N
                                         open experiments (default 64) the least recently used
                                         is sealed and released; --idle-release S releases one
                                         unused for S seconds (default 10 on an s3:// root, so
                                         another server on the bucket can take it; else never)
  push <experiment> --dash-url URL       send an ML-Dash server what it does not hold yet of a
       [--token T] [--timeout S]         local experiment (a remote run cut short, or a local
                                         one), then its status; resumes where the last upload
                                         stopped; URL also from $ML_DASH_API_URL, the token from
                                         the SDK's login (tokens.json); waits up to S seconds
                                         (default 600)

Options:
  --dash-root <dir>   root of the experiments (default: $ML_DASH_ROOT or .dash), or an
                      S3-compatible store, s3://bucket/prefix (AWS_ENDPOINT_URL, AWS_REGION,
                      AWS_ACCESS_KEY_ID, … as the AWS tools; the local spool and the copies
                      readers fetch in $DASH_INGEST_SPOOL, default .dash-spool)
  -h, --help          show this help
`;

class UsageError extends Error {}

function dashRootOf(option: string | undefined): string {
  return option ?? process.env.ML_DASH_ROOT ?? ".dash";
}

function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

async function ls(rootArg: string | undefined): Promise<void> {
  const root = rootArg ?? dashRootOf(undefined);
  const experiments = isStoreUrl(root)
    ? await storedExperiments(root)
    : findExperiments(root).map((prefix) => {
        const { record, tracks, metrics, files, diskBytes } = describeExperiment(root, prefix);
        return { prefix, record, tracks: tracks.length, metrics: metrics.length, files: files.length, bytes: diskBytes };
      });
  if (experiments.length === 0) {
    console.log(`no experiments under ${root}`);
    return;
  }
  console.log(["experiment", "status", "tags", "tracks", "metrics", "files", "size"].join("\t"));
  for (const { prefix, record, tracks, metrics, files, bytes } of experiments) {
    const tags = Array.isArray(record.tags) ? (record.tags as string[]).join(",") : "";
    console.log([prefix, String(record.status ?? "-"), tags || "-", tracks, metrics, files, formatBytes(bytes)].join("\t"));
  }
}

async function inspect(prefix: string, dashRoot: string): Promise<void> {
  const experiment = await Experiment.open(prefix, { dashRoot });
  try {
    const { record, tracks, metrics, logLines, files, diskBytes } = describeExperiment(localRoot(experiment), prefix);
    console.log(
      `${prefix}  status ${String(record.status ?? "-")}  created ${String(record.created_at ?? "-")}  ${formatBytes(diskBytes)}`,
    );
    console.log(`\ntracks (${tracks.length}):`);
    for (const track of tracks) {
      const [first] = (await experiment.track(track.topic).read({ end: track.firstTimestamp ?? undefined })).entries;
      const types = Object.entries(first ?? {})
        .filter(([key]) => key !== "timestamp")
        .map(
          ([key, value]) =>
            `${key}: ${ArrayBuffer.isView(value) ? value.constructor.name : Array.isArray(value) ? "array" : value === null ? "null" : typeof value}`,
        );
      console.log(`  ${track.topic}`);
      console.log(`    rows ${track.totalEntries}, time ${track.firstTimestamp ?? "-"} … ${track.lastTimestamp ?? "-"}`);
      console.log(`    columns ${types.join(", ") || track.columns.join(", ")}`);
      const bytes = track.segmentBytes;
      const perRow = track.totalEntries > 0 && bytes > 0 ? `, ${(bytes / track.totalEntries).toFixed(1)} bytes/row` : "";
      console.log(`    ${track.segments} segment(s), ${formatBytes(bytes)}${perRow}`);
    }
    console.log(`\nmetrics (${metrics.length}):`);
    for (const { name, points } of metrics) console.log(`  ${name}: ${points} points`);
    console.log(`\nlogs: ${logLines} lines`);
    console.log(`params: ${JSON.stringify(experiment.params.get())}`);
    console.log(`files: ${files.length}${files.length > 0 ? ` (${formatBytes(files.reduce((s, f) => s + f.sizeBytes, 0))})` : ""}`);
  } finally {
    await experiment.close();
  }
}

function printRows(entries: Record<string, unknown>[]): void {
  const replacer = (_key: string, value: unknown) =>
    typeof value === "bigint" ? value.toString() : ArrayBuffer.isView(value) ? Array.from(value as Float64Array) : value;
  for (const entry of entries) process.stdout.write(`${JSON.stringify(entry, replacer)}\n`);
}

async function tail(prefix: string, topic: string, dashRoot: string, count: number, follow: boolean): Promise<void> {
  const readAfter = async (after: number) => {
    // Reopened each time, so rows another process sealed since are seen.
    const experiment = await Experiment.open(prefix, { dashRoot });
    try {
      const known = (await experiment.tracks.list()).some((t) => t.topic === topic);
      if (!known) throw Object.assign(new Error(`experiment "${prefix}" has no track "${topic}"`), { code: "ERR_DASH_NOT_FOUND" });
      return (await experiment.track(topic).read({ start: after })).entries.filter((e) => e.timestamp > after);
    } finally {
      await experiment.close();
    }
  };
  const rows = await readAfter(-Infinity);
  const last = rows.slice(-count);
  printRows(last);
  let after = last[last.length - 1]?.timestamp ?? -Infinity;
  while (follow) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const fresh = await readAfter(after);
    printRows(fresh);
    after = fresh[fresh.length - 1]?.timestamp ?? after;
  }
}

interface ExportOptions {
  format: string | undefined;
  out: string | undefined;
  start: number | undefined;
  end: number | undefined;
  columns: string[] | undefined;
}

/** One CSV field: numbers and booleans as they are, everything else quoted (arrays as JSON). */
function csvField(value: unknown): string {
  if (value === undefined) return "";
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  const text =
    typeof value === "string"
      ? value
      : JSON.stringify(value, (_k, v: unknown) =>
          typeof v === "bigint" ? v.toString() : ArrayBuffer.isView(v) ? Array.from(v as Float64Array) : v,
        );
  return `"${text.replaceAll('"', '""')}"`;
}

function toCsv(entries: Record<string, unknown>[]): string {
  const columns = ["timestamp", ...new Set(entries.flatMap((e) => Object.keys(e).filter((k) => k !== "timestamp")))];
  const lines = [columns.map(csvField).join(","), ...entries.map((e) => columns.map((c) => csvField(e[c])).join(","))];
  return `${lines.join("\n")}\n`;
}

/** The directory of each track (the engine knows the layout), for the paths an export reports. */
function trackDirs(experiment: Experiment, prefix: string): Map<string, string> {
  return new Map(describeExperiment(localRoot(experiment), prefix).tracks.map((t) => [t.topic, t.dir]));
}

async function exportAllMlDash(experiment: Experiment, prefix: string): Promise<void> {
  const tracks = await experiment.tracks.list();
  const dirs = trackDirs(experiment, prefix);
  const total = tracks.reduce((sum, t) => sum + t.totalEntries, 0);
  let exported = 0;
  const done = showProgress(`dash-ingest: exporting ${prefix}`, () => ({ done: exported, total }));
  try {
    for (const track of tracks) {
      await experiment.exportMlDash({ topic: track.topic });
      exported += track.totalEntries;
      console.log(`${track.topic}: ${track.totalEntries} entries → ${join(dirs.get(track.topic) ?? "?", "data.jsonl")}`);
    }
  } finally {
    done();
  }
  console.log(`exported ${tracks.length} track(s) of ${prefix}`);
}

/**
 * `export <experiment> [topic] --format csv|jsonl|parquet|arrow|ml-dash`: a topic's rows (in a time
 * range, some columns) to `--out` or stdout; `ml-dash` writes the SDK's data.jsonl of the topic, or
 * of every track without one.
 */
async function exportCommand(prefix: string, topic: string | undefined, dashRoot: string, options: ExportOptions): Promise<void> {
  const formats = ["csv", "jsonl", "parquet", "arrow", "ml-dash"];
  if (options.format === undefined || !formats.includes(options.format)) {
    throw new UsageError(`export: unsupported --format ${JSON.stringify(options.format ?? "")}; supported: ${formats.join(", ")}`);
  }
  if (topic === undefined && options.format !== "ml-dash") throw new UsageError(`export --format ${options.format} needs a topic`);
  const experiment = await Experiment.open(prefix, { dashRoot });
  try {
    if (topic === undefined) return await exportAllMlDash(experiment, prefix);
    if (!(await experiment.tracks.list()).some((t) => t.topic === topic)) {
      throw Object.assign(new Error(`experiment "${prefix}" has no track "${topic}"`), { code: "ERR_DASH_NOT_FOUND" });
    }
    if (options.format === "ml-dash") {
      await experiment.exportMlDash({ topic });
      console.log(`${topic} → ${join(trackDirs(experiment, prefix).get(topic) ?? "?", "data.jsonl")}`);
      return;
    }
    const query = { start: options.start, end: options.end, columns: options.columns };
    const track = experiment.track(topic);
    const bytes =
      options.format === "csv"
        ? Buffer.from(toCsv((await track.read(query)).entries))
        : await track.read({ ...query, format: options.format as "jsonl" | "parquet" | "arrow" });
    if (options.out === undefined) process.stdout.write(bytes);
    else writeFileSync(options.out, bytes);
  } finally {
    await experiment.close();
  }
}

function numberOption(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (Number.isNaN(value)) throw new UsageError(`${name} must be a number of seconds, got ${text}`);
  return value;
}

function positiveOption(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new UsageError(`${name} must be a positive integer, got ${text}`);
  return value;
}

function portOption(text: string | undefined, fallback: number): number {
  const port = text === undefined ? fallback : Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a port number, got ${text}`);
  return port;
}

function arity(command: string, args: string[], count: number, usage: string): string[] {
  if (args.length !== count) throw new UsageError(`${command} takes ${usage}`);
  return args;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      format: { type: "string" },
      "dash-root": { type: "string" },
      n: { type: "string", short: "n" },
      follow: { type: "boolean", short: "f" },
      port: { type: "string" },
      host: { type: "string" },
      token: { type: "string", multiple: true },
      "max-body-bytes": { type: "string" },
      "max-open-experiments": { type: "string" },
      "idle-release": { type: "string" },
      out: { type: "string", short: "o" },
      start: { type: "string" },
      end: { type: "string" },
      columns: { type: "string" },
      "dash-url": { type: "string" },
      timeout: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(HELP);
    return command === undefined && !values.help ? 2 : 0;
  }
  const dashRoot = dashRootOf(values["dash-root"]);
  switch (command) {
    case "ls":
      if (rest.length > 1) throw new UsageError("ls takes at most one dashRoot");
      await ls(rest[0] ?? values["dash-root"]);
      return 0;
    case "inspect": {
      const [prefix] = arity("inspect", rest, 1, "one experiment prefix");
      await inspect(prefix as string, dashRoot);
      return 0;
    }
    case "tail": {
      const [prefix, topic] = arity("tail", rest, 2, "an experiment prefix and a topic");
      const count = values.n === undefined ? 10 : Number(values.n);
      if (!Number.isInteger(count) || count < 0) throw new UsageError(`-n must be a non-negative integer, got ${values.n}`);
      await tail(prefix as string, topic as string, dashRoot, count, values.follow === true);
      return 0;
    }
    case "export": {
      if (rest.length < 1 || rest.length > 2) throw new UsageError("export takes an experiment prefix and an optional topic");
      await exportCommand(rest[0] as string, rest[1], dashRoot, {
        format: values.format,
        out: values.out,
        start: numberOption("--start", values.start),
        end: numberOption("--end", values.end),
        columns: values.columns?.split(",").filter((c) => c.length > 0),
      });
      return 0;
    }
    case "view": {
      if (rest.length === 0) throw new UsageError("view takes one or more experiment prefixes");
      const viewer = await startViewer(rest, dashRoot, portOption(values.port, 0));
      console.log(`dash-ingest view: ${viewer.url} (Ctrl-C to stop)`);
      await new Promise(() => undefined); // serve until the process is stopped
      return 0;
    }
    case "serve": {
      arity("serve", rest, 0, "no positional arguments");
      const tokens = [...(values.token ?? []), ...(process.env.DASH_INGEST_TOKENS ?? "").split(",")].filter((t) => t.length > 0);
      const maxBodyBytes = positiveOption("--max-body-bytes", values["max-body-bytes"]);
      const maxOpenExperiments = positiveOption("--max-open-experiments", values["max-open-experiments"]);
      const idleReleaseSeconds = positiveOption("--idle-release", values["idle-release"]);
      const server = await startServer({
        dashRoot,
        port: portOption(values.port, 3000),
        host: values.host ?? "127.0.0.1",
        tokens,
        ...(maxBodyBytes === undefined ? {} : { maxBodyBytes }),
        ...(maxOpenExperiments === undefined ? {} : { maxOpenExperiments }),
        ...(idleReleaseSeconds === undefined ? {} : { idleReleaseSeconds }),
      });
      const auth = tokens.length === 0 ? "no token: loopback only" : `${tokens.length} token(s)`;
      console.log(`dash-ingest serve: ${server.url} (dash root ${dashRoot}; ${auth}; Ctrl-C to stop)`);
      await new Promise<void>((resolve) => {
        const stop = () => void server.close().then(resolve);
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
      return 0;
    }
    case "push": {
      const [prefix] = arity("push", rest, 1, "one experiment prefix");
      const url = values["dash-url"] ?? process.env.ML_DASH_API_URL;
      if (url === undefined || !/^https?:\/\/[^/]/i.test(url))
        throw new UsageError("push needs --dash-url http(s)://… (or $ML_DASH_API_URL)");
      const token = values.token?.[values.token.length - 1];
      const timeoutSeconds = positiveOption("--timeout", values.timeout) ?? 600;
      const result = await push(prefix as string, { dashRoot, url, token, timeoutSeconds });
      const sent = `${result.entries} track entries, ${result.files} files, ${result.logLines} log lines, ${result.metricPoints} metric points`;
      console.log(`dash-ingest push: ${prefix} is on ${url} (sent now: ${sent}; status ${result.status ?? "RUNNING, unchanged"})`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const code = (error as { code?: string }).code;
    const usage = error instanceof UsageError || code?.startsWith("ERR_PARSE_ARGS");
    process.stderr.write(`dash-ingest: ${(error as Error).message}${code && !usage ? ` (${code})` : ""}\n`);
    if (usage) process.stderr.write("Run dash-ingest --help for usage.\n");
    process.exitCode = usage ? 2 : 1;
  },
);
