/** What `dash-ingest ls s3://…` shows: the experiments under an object-store root, from one listing. */
import { Bucket, parseStoreUrl } from "./bucket.js";

export interface StoredExperiment {
  prefix: string;
  /** `experiment.json` (status, tags, …); empty if unreadable. */
  record: Record<string, unknown>;
  tracks: number;
  metrics: number;
  files: number;
  bytes: number;
}

/** Every experiment (a prefix holding `experiment.json`) under `url`, sorted by prefix. */
export async function storedExperiments(url: string): Promise<StoredExperiment[]> {
  const bucket = new Bucket(parseStoreUrl(url));
  try {
    const root = bucket.key("");
    const objects = (await bucket.list(root)).map((o) => ({ ...o, relative: o.key.slice(root.length) }));
    const prefixes = objects
      .filter((o) => o.relative.endsWith("/experiment.json"))
      .map((o) => o.relative.slice(0, -"/experiment.json".length))
      .sort((a, b) => b.length - a.length); // longest first: the innermost experiment owns a key
    const found = new Map<string, StoredExperiment>();
    for (const prefix of prefixes) found.set(prefix, { prefix, record: {}, tracks: 0, metrics: 0, files: 0, bytes: 0 });
    for (const object of objects) {
      const prefix = prefixes.find((p) => object.relative.startsWith(`${p}/`));
      const experiment = prefix === undefined ? undefined : found.get(prefix);
      if (prefix === undefined || experiment === undefined) continue;
      const inside = object.relative.slice(prefix.length + 1);
      experiment.bytes += object.size;
      if (/^tracks\/[^/]+\/metadata\.json$/.test(inside)) experiment.tracks++;
      else if (/^metrics\/.+\/metadata\.json$/.test(inside)) experiment.metrics++;
      else if (inside.startsWith("files/") && inside !== "files/.files_metadata.json") experiment.files++;
    }
    for (const experiment of found.values()) {
      const stored = await bucket.get(bucket.key(`${experiment.prefix}/experiment.json`));
      try {
        const record = JSON.parse(Buffer.from(stored?.body ?? []).toString("utf8")) as unknown;
        if (typeof record === "object" && record !== null && !Array.isArray(record)) experiment.record = record as Record<string, unknown>;
      } catch {
        // unreadable: shown without status and tags
      }
    }
    return [...found.values()].sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
  } finally {
    bucket.destroy();
  }
}
