/**
 * `dash-ingest push`: sends what a local experiment holds and its server does not (a run whose
 * upload timed out, was killed, or was never remote) — the same uploader and cursor as remote
 * mode, on this thread. Takes the experiment's lock, so a crashed writer's log is replayed first
 * and no live run is pushed under its feet.
 */
import { dashError } from "../errors.js";
import { describeExperiment, NativeEngine } from "../native.js";
import { showProgress } from "../progress.js";
import { refused } from "./client.js";
import { storedToken } from "./token.js";
import { COUNTER, COUNTER_SLOTS, Uploader } from "./uploader.js";

export interface PushOptions {
  dashRoot: string;
  url: string;
  token: string | undefined;
  timeoutSeconds: number;
}

export interface PushResult {
  /** The status set on the server (the local one), `undefined` for a run still `RUNNING`. */
  status: string | undefined;
  entries: number;
  files: number;
  logLines: number;
  metricPoints: number;
}

export async function push(prefix: string, options: PushOptions): Promise<PushResult> {
  const { record } = describeExperiment(options.dashRoot, prefix);
  const local = typeof record.status === "string" ? record.status : undefined;
  const status = local === "RUNNING" ? undefined : local;
  const engine = new NativeEngine({ dashRoot: options.dashRoot, prefix });
  try {
    await engine.flush();
    const counters = new Float64Array(COUNTER_SLOTS);
    const text = (key: string) => (typeof record[key] === "string" ? (record[key] as string) : undefined);
    const tags = Array.isArray(record.tags) ? record.tags.filter((t): t is string => typeof t === "string") : undefined;
    const uploader = await Uploader.create(
      { dir: engine.dir, prefix, url: options.url, token: options.token ?? storedToken(), description: text("description"), tags },
      counters,
    );
    const first = await uploader.start();
    if (first !== undefined && !first.retryable) throw refused(`the server at ${options.url} refused ${prefix}`, first);
    const done = showProgress(`dash-ingest: pushing ${prefix}`, () => {
      const sent = counters[COUNTER.entriesUploaded] ?? 0;
      return { done: sent, total: sent + (counters[COUNTER.entriesUnsent] ?? 0) };
    });
    try {
      await uploader.finish(status, options.timeoutSeconds * 1000);
    } finally {
      done();
    }
    return {
      status,
      entries: counters[COUNTER.entriesUploaded] ?? 0,
      files: counters[COUNTER.filesUploaded] ?? 0,
      logLines: counters[COUNTER.logLinesUploaded] ?? 0,
      metricPoints: counters[COUNTER.metricPointsUploaded] ?? 0,
    };
  } catch (error) {
    if ((error as { code?: string }).code === undefined) throw dashError("ERR_DASH_INTERNAL", String(error));
    throw error;
  } finally {
    await engine.close();
  }
}
