/**
 * Experiments on an S3-compatible object store (`dashRoot: "s3://bucket/prefix"`), against a real
 * one (SeaweedFS on loopback, see `object-store.ts`), through the public API, with pyarrow's
 * `S3FileSystem` as the independent reader: what a writer acknowledged is in the store once
 * published, exactly once, whatever the other writers, the store and kills do.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Experiment } from "../src/index.js";
import type { Bucket } from "../src/store/bucket.js";
import { StoreCopy } from "../src/store/sync.js";
import { startViewer } from "../src/viewer.js";
import { contents, freePort, python, record, runsWithPython, segmentFiles, serve, tempRoot } from "./helpers.js";
import { runsWithStore, type Store, startStore } from "./object-store.js";

const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

let store: Store;
/** Environment variables the store's clients read, set for this process and passed to children. */
const saved: Record<string, string | undefined> = {};
let buckets = 0;

/** A fresh bucket, so tests do not see each other's experiments. */
async function bucket(): Promise<string> {
  const name = `dash-test-${process.pid}-${++buckets}`;
  await store.createBucket(name);
  return name;
}

async function storedText(bucketName: string, key: string): Promise<string | undefined> {
  try {
    const answer = await store.client.send(new GetObjectCommand({ Bucket: bucketName, Key: key }));
    return await answer.Body?.transformToString();
  } catch {
    return undefined;
  }
}

/** Entries as read back, without the engine's own timestamp representation details. */
async function readAll(dashRoot: string, prefix: string, topic: string, spoolRoot = tempRoot()) {
  const experiment = await Experiment.open(prefix, { dashRoot, spoolRoot });
  try {
    return (await experiment.track(topic).read()).entries;
  } finally {
    await experiment.close();
  }
}

const writerScript = `
const { Experiment } = require(${JSON.stringify(join(__dirname, "..", "dist", "index.js"))});
const [dashRoot, spoolRoot, prefix, from, count, then] = process.argv.slice(1);
(async () => {
  const e = await new Experiment(prefix, { dashRoot, spoolRoot, leaseTimeout: 3 }).start();
  for (let i = Number(from); i < Number(from) + Number(count); i++) {
    e.track("t").append({ i }, { timestamp: i });
    if (i % 100 === 99) {
      await e.flush();
      const pending = e.stats().publish.objectsPending;
      process.stdout.write("acked " + i + " pending " + pending + "\\n");
    }
  }
  await e.flush();
  process.stdout.write("acked all\\n");
  if (then === "complete") {
    await e.complete();
    process.stdout.write("completed\\n");
  } else setInterval(() => {}, 1000);
})().catch((error) => { process.stdout.write("error " + error.code + " " + error.message + "\\n"); process.exit(3); });
`;

/**
 * A writer process appending `{ i }` at timestamp i for i in [from, from + count), flushing every
 * 100; then it completes the experiment (`then: "complete"`) or waits to be killed.
 */
function writer(
  dashRoot: string,
  spoolRoot: string,
  prefix: string,
  from: number,
  count: number,
  then: "complete" | "wait" = "wait",
): { child: ChildProcess; lines: string[]; waitFor: (pattern: RegExp) => Promise<string> } {
  const child = spawn(process.execPath, ["-e", writerScript, dashRoot, spoolRoot, prefix, String(from), String(count), then], {
    env: { ...process.env, ...store.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  cleanup.push(() => child.kill("SIGKILL"));
  const lines: string[] = [];
  let stderr = "";
  const waiting: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  let buffered = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split("\n");
    buffered = parts.pop() ?? "";
    for (const line of parts) {
      lines.push(line);
      for (const w of waiting.splice(0)) {
        if (w.pattern.test(line)) w.resolve(line);
        else waiting.push(w);
      }
    }
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const waitFor = (pattern: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const seen = lines.find((l) => pattern.test(l));
      if (seen !== undefined) return resolve(seen);
      waiting.push({ pattern, resolve });
      child.once("exit", (code) => reject(new Error(`writer exited with ${code} before ${pattern}: ${lines.join("\n")}\n${stderr}`)));
    });
  return { child, lines, waitFor };
}

/**
 * Two `dash-ingest serve` processes on one store root, each with its own spool, and a maker of
 * remote-mode clients of experiment `prefix` through either.
 */
async function twoServers(dashRoot: string, prefix: string, args: string[] = []) {
  const start = () => serve(dashRoot, ["--token", "secret", ...args], { ...process.env, DASH_INGEST_SPOOL: tempRoot() });
  const [a, b] = await Promise.all([start(), start()]);
  cleanup.push(
    () => a.child.kill("SIGKILL"),
    () => b.child.kill("SIGKILL"),
  );
  const client = (url: string) => new Experiment(prefix, { dashRoot: tempRoot(), dashUrl: url, token: "secret", uploadTimeout: 60 });
  return { a, b, client };
}

describe.runIf(runsWithStore)("experiments on an S3-compatible object store", () => {
  beforeAll(async () => {
    store = await startStore();
    // Where a root given without spoolRoot (the CLI, the viewer) keeps its spool and copies.
    for (const [name, value] of Object.entries({ ...store.env, DASH_INGEST_SPOOL: tempRoot() })) {
      saved[name] = process.env[name];
      process.env[name] = value;
    }
  }, 120_000);

  afterAll(async () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await store?.stop();
  });

  it("the seed's robot example with ML_DASH_ROOT=s3://…: the store holds the same tracks, frames, logs, params and status as a local run", async () => {
    const name = await bucket();
    const scratch = tempRoot();
    const example = join(__dirname, "..", "examples", "robot-tracking.ts");
    const run = (env: Record<string, string>) =>
      new Promise<void>((resolve, reject) =>
        execFile(
          process.execPath,
          [require.resolve("tsx/cli"), example],
          { cwd: scratch, env: { ...process.env, ...env } },
          (error, _out, stderr) => (error === null ? resolve() : reject(new Error(`${error.message}\n${stderr}`))),
        ),
      );
    await run({ ML_DASH_ROOT: `s3://${name}/lab`, DASH_INGEST_SPOOL: join(scratch, ".dash-spool") });
    const prefix = "robotics/complete-tracking";
    const held = await contents(`s3://${name}/lab`, prefix, tempRoot());
    const spooled = await contents(join(scratch, ".dash-spool", name, "lab"), prefix);
    expect(held).toEqual(spooled);
    expect(held.tracks["robot/position"]).toHaveLength(250);
    expect(held.files).toHaveLength(250);
    expect(held.status).toBe("COMPLETED");
    // The lease was given up.
    const lease = JSON.parse((await storedText(name, `lab/${prefix}/.dash-ingest.lease`)) ?? "{}") as { released?: boolean };
    expect(lease.released).toBe(true);
  });

  it("a program of tracks, logs, metrics, params and files reads back the same from the store as from the spool", async () => {
    const name = await bucket();
    const spoolRoot = tempRoot();
    const dashRoot = `s3://${name}/runs`;
    const experiment = await new Experiment("team/proj/run-1", { dashRoot, spoolRoot }).start();
    await record(experiment, 11);
    await experiment.complete();
    expect(experiment.stats().publish?.objectsPending).toBe(0);
    const held = await contents(dashRoot, "team/proj/run-1", tempRoot());
    const spooled = await contents(join(spoolRoot, name, "runs"), "team/proj/run-1");
    expect(held).toEqual(spooled);
    expect(Object.keys(held.tracks).sort()).toEqual(["robot/control", "robot/position"]);
  });

  it.runIf(runsWithPython("pyarrow"))("pyarrow's S3FileSystem reads the published segments in place: every row, once", async () => {
    const name = await bucket();
    const dashRoot = `s3://${name}/lab`;
    const experiment = await new Experiment("a/b/c", { dashRoot, spoolRoot: tempRoot() }).start();
    for (let i = 0; i < 5000; i++) {
      experiment.track("robot/state").append({ i, x: i * 0.5 }, { timestamp: i });
      if (i % 1000 === 999) await experiment.flush();
    }
    await experiment.complete();
    const script = `
import json, sys, pyarrow.dataset as ds, pyarrow.fs as fs
s3 = fs.S3FileSystem(endpoint_override=sys.argv[1], access_key=sys.argv[2], secret_key=sys.argv[3], scheme="http", region="us-east-1")
manifest = json.loads(s3.open_input_file(sys.argv[4] + "/metadata.json").read())
files = [sys.argv[4] + "/" + s["file"] for s in manifest["segments"]]
table = ds.dataset(files, format="parquet", filesystem=s3).to_table()
print(json.dumps(sorted(table.column("i").to_pylist())))
`;
    const output = await new Promise<string>((resolve, reject) =>
      execFile(
        python,
        [
          "-c",
          script,
          store.endpoint.replace("http://", ""),
          store.env.AWS_ACCESS_KEY_ID as string,
          store.env.AWS_SECRET_ACCESS_KEY as string,
          `${name}/lab/a/b/c/tracks/robot_state`,
        ],
        (error, out, stderr) => (error === null ? resolve(out) : reject(new Error(`${error.message}\n${stderr}`))),
      ),
    );
    expect(JSON.parse(output)).toEqual(Array.from({ length: 5000 }, (_, i) => i));
  });

  it("a second writer on the same experiment is refused with ERR_DASH_LOCKED while the first holds the lease", async () => {
    const name = await bucket();
    const dashRoot = `s3://${name}`;
    const first = await new Experiment("p/q/r", { dashRoot, spoolRoot: tempRoot() }).start();
    first.track("t").append({ x: 1 });
    const second = new Experiment("p/q/r", { dashRoot, spoolRoot: tempRoot() });
    await expect(second.start()).rejects.toMatchObject({ code: "ERR_DASH_LOCKED", message: expect.stringMatching(/lease/) });
    // The first goes on; once it completes, the second may write.
    first.track("t").append({ x: 2 });
    await first.complete();
    const again = await new Experiment("p/q/r", { dashRoot, spoolRoot: tempRoot() }).start();
    again.track("t").append({ x: 3 });
    await again.complete();
    expect((await readAll(dashRoot, "p/q/r", "t")).map((e) => e.x)).toEqual([1, 2, 3]);
  });

  it("a lease held elsewhere (another machine, or another pid namespace of this one) is refused until it expires, then taken over", async () => {
    const name = await bucket();
    const dashRoot = `s3://${name}`;
    const lease = (prefix: string, record: Record<string, unknown>) =>
      store.client.send(new PutObjectCommand({ Bucket: name, Key: `${prefix}/.dash-ingest.lease`, Body: JSON.stringify(record) }));
    const experiment = (prefix: string) => new Experiment(prefix, { dashRoot, spoolRoot: tempRoot() });
    // Same host name, a pid no process here has, but another pid namespace (a container): its
    // holder may well be alive, so the lease is not taken before it expires.
    await lease("x/y/w", {
      spool: "elsewhere",
      host: hostname(),
      space: `${hostname()}/boot/pid:[1]`,
      pid: 2 ** 22 + 1,
      expiresAt: Date.now() + 60_000,
    });
    await expect(experiment("x/y/w").start()).rejects.toMatchObject({ code: "ERR_DASH_LOCKED" });
    const expiresAt = Date.now() + 2500;
    await lease("x/y/z", { spool: "elsewhere", host: "another-machine", pid: 1, expiresAt });
    await expect(experiment("x/y/z").start()).rejects.toMatchObject({
      code: "ERR_DASH_LOCKED",
      message: expect.stringMatching(/another-machine/),
    });
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now() + 100)));
    const taken = await experiment("x/y/z").start();
    taken.track("t").append({ ok: true });
    await taken.complete();
    expect(await readAll(dashRoot, "x/y/z", "t")).toHaveLength(1);
  });

  it("two writer processes on two experiments of one bucket: each reads back whole", async () => {
    const name = await bucket();
    const dashRoot = `s3://${name}/shared`;
    const a = writer(dashRoot, tempRoot(), "lab/p/a", 0, 2000, "complete");
    const b = writer(dashRoot, tempRoot(), "lab/p/b", 0, 2000, "complete");
    await Promise.all([a.waitFor(/^completed/), b.waitFor(/^completed/)]);
    for (const prefix of ["lab/p/a", "lab/p/b"]) {
      const entries = await readAll(dashRoot, prefix, "t");
      expect(entries.map((e) => e.i as number)).toEqual(Array.from({ length: 2000 }, (_, i) => i));
    }
  });

  it("a writer SIGKILLed mid-run: a restart from its spool publishes every acknowledged row, once; another machine then continues from the store", async () => {
    const name = await bucket();
    const dashRoot = `s3://${name}`;
    const spoolA = tempRoot();
    const first = writer(dashRoot, spoolA, "k/l/m", 0, 1_000_000);
    const line = await first.waitFor(/^acked 2999 /);
    first.child.kill("SIGKILL");
    await new Promise((resolve) => first.child.once("exit", resolve));
    const acknowledged = Number(/acked (\d+)/.exec(line)?.[1]) + 1;
    // The same machine again (same spool): the dead holder's lease is taken at once.
    const again = await new Experiment("k/l/m", { dashRoot, spoolRoot: spoolA }).start();
    again.track("t").append({ i: -1 }, { timestamp: -1 });
    await again.complete();
    const afterRestart = (await readAll(dashRoot, "k/l/m", "t")).map((e) => e.i as number);
    expect(afterRestart.length).toBeGreaterThanOrEqual(acknowledged + 1);
    expect(new Set(afterRestart).size).toBe(afterRestart.length);
    expect(afterRestart.slice(0, acknowledged + 1)).toEqual([-1, ...Array.from({ length: acknowledged }, (_, i) => i)]);
    // Another machine (another spool) continues from what the store holds.
    const elsewhere = await new Experiment("k/l/m", { dashRoot, spoolRoot: tempRoot() }).start();
    elsewhere.track("t").append({ i: -2 }, { timestamp: -2 });
    await elsewhere.complete();
    const final = (await readAll(dashRoot, "k/l/m", "t")).map((e) => e.i as number);
    expect(final).toEqual([-2, ...afterRestart]);
  });

  it("the store stopped mid-run: appends go on, publishing resumes when it is back, complete() waits; with a short uploadTimeout it fails with ERR_DASH_REMOTE_TIMEOUT", async () => {
    const name = await bucket();
    const dashRoot = `s3://${name}`;
    const experiment = await new Experiment("s/t/u", { dashRoot, spoolRoot: tempRoot(), flushInterval: 0.2 }).start();
    for (let i = 0; i < 500; i++) experiment.track("t").append({ i }, { timestamp: i });
    await experiment.flush();
    await store.stop();
    try {
      for (let i = 500; i < 1000; i++) experiment.track("t").append({ i }, { timestamp: i });
      await experiment.flush();
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(experiment.stats().publish?.objectsPending).toBeGreaterThan(0);
      expect(experiment.stats().publish?.publishRetries).toBeGreaterThan(0);
    } finally {
      await store.start();
    }
    await experiment.complete();
    expect((await readAll(dashRoot, "s/t/u", "t")).map((e) => e.i as number)).toEqual(Array.from({ length: 1000 }, (_, i) => i));

    const late = await new Experiment("s/t/v", { dashRoot, spoolRoot: tempRoot(), uploadTimeout: 1 }).start();
    late.track("t").append({ i: 0 });
    await store.stop();
    try {
      await expect(late.complete()).rejects.toMatchObject({ code: "ERR_DASH_REMOTE_TIMEOUT", message: expect.stringMatching(/spool/) });
    } finally {
      await store.start();
    }
  }, 60_000);

  it("a reader listing and reading while a writer compacts: no errors, no duplicates, no gaps, never fewer rows than a read before", async () => {
    const name = await bucket();
    const dashRoot = `s3://${name}`;
    const experiment = await new Experiment("c/d/e", { dashRoot, spoolRoot: tempRoot() }).start();
    let written = 0;
    let readerDone = false;
    const reads: number[] = [];
    const reader = (async () => {
      const spoolRoot = tempRoot();
      while (!readerDone) {
        const opened = await Experiment.open("c/d/e", { dashRoot, spoolRoot }).catch((error: { code?: string }) => {
          if (error.code === "ERR_DASH_NOT_FOUND") return undefined;
          throw error;
        });
        if (opened === undefined) continue;
        try {
          const tracks = await opened.tracks.list();
          if (tracks.length === 0) continue;
          const values = (await opened.track("t").read()).entries.map((e) => e.i as number);
          expect(new Set(values).size).toBe(values.length);
          expect(values).toEqual(Array.from({ length: values.length }, (_, i) => i));
          reads.push(values.length);
        } finally {
          await opened.close();
        }
      }
    })();
    // Many small flushes: the engine compacts them as it goes (four small segments make one).
    for (let round = 0; round < 40; round++) {
      for (let k = 0; k < 50; k++) experiment.track("t").append({ i: written }, { timestamp: written++ });
      await experiment.flush();
    }
    const { compactions } = experiment.stats();
    await experiment.complete();
    readerDone = true;
    expect(compactions).toBeGreaterThan(0);
    await reader;
    expect(reads.length).toBeGreaterThan(3);
    expect(reads).toEqual([...reads].sort((a, b) => a - b));
    expect(await readAll(dashRoot, "c/d/e", "t")).toHaveLength(2000);
    // Segments the compactions replaced were kept while the run went on (for readers holding an
    // older manifest) and are gone once it completed: the store holds exactly what the manifest names.
    const manifest = JSON.parse((await storedText(name, "c/d/e/tracks/t/metadata.json")) ?? "{}") as { segments: { file: string }[] };
    const listed = await store.client.send(new ListObjectsV2Command({ Bucket: name, Prefix: "c/d/e/tracks/t/seg-" }));
    expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual(manifest.segments.map((s) => `c/d/e/tracks/t/${s.file}`).sort());
  }, 60_000);

  it("a reader fetches only the segments a time range needs; a full read then has every row once", async () => {
    const name = await bucket();
    const dashRoot = `s3://${name}`;
    const spool = tempRoot();
    const experiment = await new Experiment("r/a/nge", { dashRoot, spoolRoot: spool }).start();
    for (let i = 0; i < 30_000; i++) {
      experiment.track("t").append({ i }, { timestamp: i });
      if (i % 5000 === 4999) await experiment.flush();
    }
    await experiment.complete();
    const manifest = JSON.parse((await storedText(name, "r/a/nge/tracks/t/metadata.json")) ?? "{}") as {
      segments: { file: string; minTimestamp: number; maxTimestamp: number }[];
    };
    expect(manifest.segments.length).toBeGreaterThan(1);
    const readerSpool = tempRoot();
    const reader = await Experiment.open("r/a/nge", { dashRoot, spoolRoot: readerSpool });
    try {
      const copy = join(readerSpool, ".read-cache", name, "r/a/nge", "tracks", "t");
      const cached = () =>
        segmentFiles(copy)
          .map((f) => f.slice(copy.length + 1))
          .sort();
      expect(cached()).toEqual([]);
      const { entries } = await reader.track("t").read({ start: 100, end: 199 });
      expect(entries.map((e) => e.i)).toEqual(Array.from({ length: 100 }, (_, k) => 100 + k));
      const needed = manifest.segments.filter((s) => s.maxTimestamp >= 100 && s.minTimestamp <= 199).map((s) => s.file);
      expect(cached()).toEqual(needed.sort());
      expect(needed.length).toBeLessThan(manifest.segments.length);
      expect((await reader.track("t").read({ format: "columns" })).count).toBe(30_000);
      expect(cached()).toHaveLength(manifest.segments.length);
    } finally {
      await reader.close();
    }
  });

  it("a log written all the time is not sent whole at every flush (at most every 5 s), and whole at complete()", async () => {
    const name = await bucket();
    const dashRoot = `s3://${name}`;
    const experiment = await new Experiment("l/o/gs", { dashRoot, spoolRoot: tempRoot(), flushInterval: 0.2 }).start();
    await experiment.flush();
    const before = experiment.stats().publish?.objectsPublished ?? 0;
    for (let i = 0; i < 30; i++) {
      experiment.log(`line ${i}`);
      await experiment.flush();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // 30 flushes in about 3 s: logs.jsonl (and its sequence file) sent at most twice each, not 30 times.
    expect((experiment.stats().publish?.objectsPublished ?? 0) - before).toBeLessThanOrEqual(6);
    await experiment.complete();
    const logs = (await storedText(name, "l/o/gs/logs/logs.jsonl")) ?? "";
    expect(logs.trim().split("\n")).toHaveLength(30);
  });

  it("a large segment is fetched by row group: a narrow range brings its footer and one row group, a full read the rest", async () => {
    const name = await bucket();
    const dashRoot = `s3://${name}`;
    const experiment = await new Experiment("b/i/g", { dashRoot, spoolRoot: tempRoot() }).start();
    const rows = 400_000;
    // Values with every mantissa bit busy, so the segments do not compress below the 1 MiB whole-fetch size.
    for (let i = 0; i < rows; i++) experiment.track("t").append({ i, x: (Math.sin(i) * 1e4) % 1 }, { timestamp: i });
    await experiment.complete();
    const manifest = JSON.parse((await storedText(name, "b/i/g/tracks/t/metadata.json")) ?? "{}") as {
      segments: { file: string; bytes: number; minTimestamp: number; maxTimestamp: number }[];
    };
    const big = manifest.segments.find((s) => s.bytes > 2 ** 20 && s.maxTimestamp - s.minTimestamp > 3 * 65_536);
    expect(big).toBeDefined();
    const { file, bytes, minTimestamp } = big as { file: string; bytes: number; minTimestamp: number };
    const readerSpool = tempRoot();
    const reader = await Experiment.open("b/i/g", { dashRoot, spoolRoot: readerSpool });
    try {
      const path = join(readerSpool, ".read-cache", name, "b/i/g", "tracks", "t", file);
      const allocated = () => statSync(path).blocks * 512;
      const from = minTimestamp + 100;
      const { entries } = await reader.track("t").read({ start: from, end: from + 99 });
      expect(entries.map((e) => e.i)).toEqual(Array.from({ length: 100 }, (_, k) => from + k));
      expect(statSync(path).size).toBe(bytes);
      expect(allocated()).toBeLessThan(bytes / 2); // the footer and one row group of several
      const all = await reader.track("t").read({ format: "columns" });
      expect(all.count).toBe(rows);
      expect(Array.from(all.columns.i as Float64Array)).toEqual(Array.from({ length: rows }, (_, k) => k));
      expect(allocated()).toBeGreaterThanOrEqual(bytes - 8192);
    } finally {
      await reader.close();
    }
  });

  it("the CLI lists, inspects and exports experiments in the store; the viewer shows one", async () => {
    const name = await bucket();
    const dashRoot = `s3://${name}/cli`;
    for (const prefix of ["lab/p/one", "lab/p/two"]) {
      const experiment = await new Experiment(prefix, { dashRoot, spoolRoot: tempRoot(), tags: ["cli"] }).start();
      for (let i = 0; i < 300; i++) experiment.track("robot/pose").append({ i, x: i / 2 }, { timestamp: i });
      experiment.metrics("loss").log({ value: 1 });
      await experiment.complete();
    }
    const cli = (...args: string[]) =>
      new Promise<string>((resolve, reject) =>
        execFile(process.execPath, [join(__dirname, "..", "dist", "cli.js"), ...args], { cwd: tempRoot() }, (error, out, stderr) =>
          error === null ? resolve(out) : reject(new Error(`${error.message}\n${stderr}`)),
        ),
      );
    const listed = (await cli("ls", dashRoot)).trim().split("\n");
    expect(listed[0]).toMatch(/^experiment\tstatus/);
    expect(listed.slice(1).map((l) => l.split("\t").slice(0, 6))).toEqual([
      ["lab/p/one", "COMPLETED", "cli", "1", "1", "0"],
      ["lab/p/two", "COMPLETED", "cli", "1", "1", "0"],
    ]);
    expect(await cli("inspect", "lab/p/two", "--dash-root", dashRoot)).toMatch(/robot\/pose\n\s+rows 300/);
    const csv = (await cli("export", "lab/p/one", "robot/pose", "--format", "csv", "--dash-root", dashRoot)).trim().split("\n");
    expect(csv).toHaveLength(301);
    expect(csv[1]).toMatch(/^0,0,0$/);
    const viewer = await startViewer("lab/p/one", dashRoot);
    try {
      const tracks = (await (await fetch(new URL("api/tracks", viewer.url))).json()) as unknown[];
      expect(tracks).toMatchObject([{ topic: "robot/pose", totalEntries: 300 }]);
      const chart = (await (await fetch(new URL("api/track?topic=robot%2Fpose&width=1000", viewer.url))).json()) as {
        series: Record<string, number[]>;
      };
      expect(chart.series.x).toEqual(Array.from({ length: 300 }, (_, i) => i / 2));
    } finally {
      await viewer.close();
    }
  });

  it("serve on a store: two servers on one bucket, each experiment written by whichever holds its lease", async () => {
    const dashRoot = `s3://${await bucket()}/srv`;
    const { a, b, client } = await twoServers(dashRoot, "lab/shared/run");
    // The first client writes through server A, which takes the experiment's lease.
    const first = await client(a.url).start();
    for (let i = 0; i < 500; i++) first.track("t").append({ i }, { timestamp: i });
    await first.flush();
    // A second client through server B: B answers 503 while A holds the lease; the client waits.
    const second = await client(b.url).start();
    for (let i = 500; i < 1000; i++) second.track("t").append({ i }, { timestamp: i });
    const secondDone = second.complete();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(second.stats().upload?.entriesUploaded).toBe(0);
    // A completes the experiment (and gives its lease up); then B takes it and the rest arrives.
    await first.complete();
    await secondDone;
    const held = (await readAll(dashRoot, "lab/shared/run", "t")).map((e) => e.i as number);
    expect(held).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  }, 90_000);

  it("a wrong key is ERR_DASH_UNAUTHORIZED at start(); a store that does not answer is ERR_DASH_REMOTE_TIMEOUT after uploadTimeout", async () => {
    const name = await bucket();
    const withEnv = async (name: string, value: string, run: () => Promise<void>) => {
      const before = process.env[name];
      process.env[name] = value;
      try {
        await run();
      } finally {
        process.env[name] = before;
      }
    };
    await withEnv("AWS_SECRET_ACCESS_KEY", "not-the-secret", async () => {
      const start = new Experiment("w/r/ong", { dashRoot: `s3://${name}`, spoolRoot: tempRoot() }).start();
      await expect(start).rejects.toMatchObject({ code: "ERR_DASH_UNAUTHORIZED", message: expect.stringMatching(/403/) });
    });
    await withEnv("AWS_ENDPOINT_URL", `http://127.0.0.1:${await freePort()}`, async () => {
      const start = new Experiment("n/o/ne", { dashRoot: `s3://${name}`, spoolRoot: tempRoot(), uploadTimeout: 1 }).start();
      await expect(start).rejects.toMatchObject({
        code: "ERR_DASH_REMOTE_TIMEOUT",
        message: expect.stringMatching(/did not answer within 1 s/),
      });
    });
    // The store is fine: the same experiments start now.
    const fine = await new Experiment("w/r/ong", { dashRoot: `s3://${name}`, spoolRoot: tempRoot() }).start();
    await fine.complete();
  });

  it("crafted objects in the store (keys with .., a manifest naming paths outside) are never written or read outside the copy", async () => {
    const name = await bucket();
    const dashRoot = `s3://${name}/h`;
    const experiment = await new Experiment("h/o/st", { dashRoot, spoolRoot: tempRoot() }).start();
    experiment.track("t").append({ x: 1 }, { timestamp: 1 });
    await experiment.complete();
    const put = (key: string, body: string) => store.client.send(new PutObjectCommand({ Bucket: name, Key: key, Body: body }));
    // SeaweedFS refuses keys with ".." parts or backslashes (other stores keep them): either way nothing escapes.
    await put("h/h/o/st/../../escape.txt", "out").catch(() => undefined);
    await put("h/h/o/st/tracks/t/..\\escape.txt", "out").catch(() => undefined);
    const manifest = JSON.parse((await storedText(name, "h/h/o/st/tracks/t/metadata.json")) ?? "{}") as { segments: { file: string }[] };
    const spoolRoot = tempRoot();
    for (const file of ["../../../../outside.parquet", "/etc/passwd"]) {
      await put("h/h/o/st/tracks/t/metadata.json", JSON.stringify({ ...manifest, segments: [{ ...manifest.segments[0], file }] }));
      const reader = await Experiment.open("h/o/st", { dashRoot, spoolRoot });
      try {
        await expect(reader.track("t").read()).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_DASH_/) });
      } finally {
        await reader.close();
      }
    }
    const written = readdirSync(spoolRoot, { recursive: true }).map(String);
    expect(written.every((path) => path.startsWith(".read-cache"))).toBe(true);
    expect(written.some((path) => path.includes("escape") || path.includes("outside"))).toBe(false);
  });

  it("serve on a store releases an idle experiment: two clients alternate between two servers, neither completing first", async () => {
    const dashRoot = `s3://${await bucket()}/idle`;
    const { a, b, client } = await twoServers(dashRoot, "lab/alt/run", ["--idle-release", "1"]);
    const first = await client(a.url).start();
    for (let i = 0; i < 300; i++) first.track("t").append({ i }, { timestamp: i });
    await first.flush();
    // The first client goes quiet without completing; server A lets the experiment go after 1 s.
    const second = await client(b.url).start();
    for (let i = 300; i < 600; i++) second.track("t").append({ i }, { timestamp: i });
    await second.complete();
    // Then the first client again, through A, which must take the experiment back from B.
    for (let i = 600; i < 900; i++) first.track("t").append({ i }, { timestamp: i });
    await first.complete();
    const held = (await readAll(dashRoot, "lab/alt/run", "t")).map((e) => e.i as number);
    expect(held).toEqual(Array.from({ length: 900 }, (_, i) => i));
  }, 90_000);

  it("bad object-store roots and options are coded errors", () => {
    expect(() => new Experiment("a/b", { dashRoot: "s3://" })).toThrow(expect.objectContaining({ code: "ERR_DASH_INVALID_ARGUMENT" }));
    expect(() => new Experiment("a/b", { dashRoot: "s3://Bad_Bucket/x" })).toThrow(
      expect.objectContaining({ code: "ERR_DASH_INVALID_ARGUMENT" }),
    );
    expect(() => new Experiment("a/b", { dashRoot: "s3://bucket/../x" })).toThrow(
      expect.objectContaining({ code: "ERR_DASH_INVALID_ARGUMENT" }),
    );
    expect(() => new Experiment("a/b", { dashRoot: "s3://bucket", dashUrl: "http://localhost:1" })).toThrow(
      expect.objectContaining({ code: "ERR_DASH_INVALID_ARGUMENT" }),
    );
    expect(() => new Experiment("a/b", { dashRoot: "s3://bucket", leaseTimeout: Number.NaN })).toThrow(
      expect.objectContaining({ code: "ERR_DASH_INVALID_ARGUMENT" }),
    );
    expect(() => new Experiment("a/b", { dashRoot: tempRoot(), leaseTimeout: 5 })).toThrow(
      expect.objectContaining({ code: "ERR_DASH_INVALID_ARGUMENT" }),
    );
    expect(existsSync(join(process.cwd(), ".dash-spool"))).toBe(false);
  });
});

describe("a store's keys as local paths", () => {
  it("a listing with keys that are not plain paths (.., backslashes, empty or dot parts) writes only the plain ones", async () => {
    const keys = ["p/../../escape.txt", "p/tracks/t/..\\escape.txt", "p//double.txt", "p/./dot.txt", "p/ok.json", "p/files/a/b.txt"];
    const fake = {
      list: async () => keys.map((key) => ({ key, size: 2, etag: "x" })),
      get: async (key: string) => ({ body: new TextEncoder().encode(key), etag: "y" }),
      url: (relative = "") => `s3://fake/${relative}`,
      key: (relative: string) => relative,
    } as unknown as Bucket;
    const root = tempRoot();
    // Two levels deep, so a key that climbed out of the copy would still land under `root`.
    await new StoreCopy(fake, "p/", join(root, "x", "y")).refresh({ segments: true, mirror: true });
    const written = readdirSync(root, { recursive: true }).map(String).sort();
    expect(written).toEqual(["x", "x/y", "x/y/.dash-ingest-cache.json", "x/y/files", "x/y/files/a", "x/y/files/a/b.txt", "x/y/ok.json"]);
  });
});
