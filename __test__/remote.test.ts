/**
 * Remote mode (`dashUrl`) against `dash-ingest serve` in the same test: what the client's local
 * spool holds arrives on the server, entry by entry, whatever the network and the server do (down
 * at start, SIGKILLed, 5xx/429 bursts and dropped connections from a fault-injecting proxy), and
 * a client killed mid-upload is completed by `dash-ingest push`.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, request, type ServerResponse } from "node:http";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { Experiment } from "../src/index.js";
import { type DashServer, startServer } from "../src/serve.js";
import { multipart } from "../src/multipart.js";
import { backoffMs, type Id, idOf, jsonBody, parseLossless, quote, RemoteClient, type RemoteError } from "../src/remote/client.js";
import { fernetDecrypt, storedToken } from "../src/remote/token.js";
import { contents, freePort, python, record, runsWithPython, serve, tempRoot } from "./helpers.js";

const cli = join(__dirname, "..", "dist", "cli.js");
const fixtures = join(__dirname, "fixtures");

const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function server(options: { tokens?: string[]; port?: number } = {}): Promise<{ root: string; server: DashServer }> {
  const root = tempRoot();
  const started = await startServer({ dashRoot: root, port: options.port ?? 0, tokens: options.tokens ?? ["secret"] });
  cleanup.push(() => started.close());
  return { root, server: started };
}

/** Where the server keeps an experiment: the SDK reads `a/b` as namespace `a`, project and name `b`. */
function onServer(prefix: string): string {
  const parts = prefix.split("/");
  return parts.length === 2 ? `${prefix}/${parts[1]}` : prefix;
}

/** A line a restarted server's engine writes in the experiment's log about its own recovery. */
const isRecoveryNote = (line: { level: unknown; message: unknown }) =>
  line.level === "warn" && String(line.message).startsWith("recovered ");

/** The server holds what the client's spool holds (tracks entry by entry, files byte for byte, …). */
async function expectSameOnServer(clientRoot: string, serverRoot: string, prefix: string, status?: string): Promise<void> {
  const local = await contents(clientRoot, prefix);
  const remote = await contents(serverRoot, onServer(prefix));
  expect(remote.tracks).toEqual(local.tracks);
  expect(remote.files).toEqual(local.files);
  expect(remote.logs.filter((line) => !isRecoveryNote(line))).toEqual(local.logs);
  expect(remote.metrics).toEqual(local.metrics);
  expect(remote.params).toEqual(local.params);
  expect(remote.status).toBe(status ?? local.status);
}

/** Sends `req` on to `target` after `delayMs` and its answer back (an error closes the connection). */
function relay(req: IncomingMessage, res: ServerResponse, target: string, delayMs = 0): void {
  setTimeout(() => {
    const forward = request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on("error", () => req.socket.destroy());
    req.pipe(forward);
  }, delayMs);
}

/** An HTTP server answering with `handle`, closed after the test; resolves with its URL. */
function listen(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const http = createServer(handle);
  return new Promise((resolve) =>
    http.listen(0, "127.0.0.1", () => {
      cleanup.push(() => new Promise((done) => http.close(done)));
      resolve(`http://127.0.0.1:${(http.address() as { port: number }).port}`);
    }),
  );
}

type Fault = "503" | "429" | "drop-before" | "drop-after" | "pass";

/**
 * A proxy to `target` that answers some requests itself: `fault(request)` picks 503 or 429 (with
 * `Retry-After: 0`), a connection closed before the server saw the request, or one closed after
 * the server handled it (the client must send it again; the server must not store it twice).
 */
async function faultyProxy(
  target: string,
  fault: (req: IncomingMessage) => Fault,
): Promise<{ url: string; counts: Record<Fault, number> }> {
  const counts: Record<Fault, number> = { "503": 0, "429": 0, "drop-before": 0, "drop-after": 0, pass: 0 };
  const url = await listen((req, res) => {
    const kind = fault(req);
    counts[kind]++;
    if (kind === "503" || kind === "429") {
      req.resume();
      res.writeHead(Number(kind), { "Retry-After": "0", "Content-Type": "application/json" }).end('{"error":"busy"}');
    } else if (kind === "drop-before") {
      req.socket.destroy();
    } else if (kind === "drop-after") {
      // The server handles it; the client never hears back.
      const forward = request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
        answer.resume();
        answer.on("end", () => req.socket.destroy());
      });
      forward.on("error", () => req.socket.destroy());
      req.pipe(forward);
    } else {
      relay(req, res, target);
    }
  });
  return { url, counts };
}

describe("remote mode (dashUrl) against dash-ingest serve", () => {
  it("the seed's robot example with ML_DASH_API_URL: the server holds the same tracks, frames, logs, params and status", async () => {
    const { root: serverRoot, server: started } = await server();
    const scratch = tempRoot();
    mkdirSync(join(scratch, "config"));
    writeFileSync(join(scratch, "config", "tokens.json"), JSON.stringify({ "ml-dash-token": "secret" }));
    const env = { ...process.env, ML_DASH_API_URL: started.url, ML_DASH_CONFIG_DIR: join(scratch, "config") };
    const example = join(__dirname, "..", "examples", "robot-tracking.ts");
    await new Promise<void>((resolve, reject) =>
      execFile(process.execPath, [require.resolve("tsx/cli"), example], { cwd: scratch, env }, (error, _out, stderr) =>
        error === null ? resolve() : reject(new Error(`${error.message}\n${stderr}`)),
      ),
    );
    const prefix = "robotics/complete-tracking";
    await expectSameOnServer(join(scratch, ".dash"), serverRoot, prefix, "COMPLETED");
    const held = await contents(serverRoot, onServer(prefix));
    expect(held.tracks["robot/position"]).toHaveLength(250);
    expect(held.files).toHaveLength(250);
  });

  it("a server down at start: start() resolves, appends proceed, everything arrives once it is up", async () => {
    const port = await freePort();
    const clientRoot = tempRoot();
    const experiment = await new Experiment("team/late/run", {
      dashRoot: clientRoot,
      dashUrl: `http://127.0.0.1:${port}`,
      token: "secret",
    }).start();
    await record(experiment, 7);
    await experiment.flush();
    expect(experiment.stats().upload).toMatchObject({ connected: false, entriesUploaded: 0 });
    expect(experiment.stats().upload?.uploadRetries).toBeGreaterThan(0);
    const { root: serverRoot } = await server({ port });
    await experiment.complete();
    expect(experiment.stats().upload).toMatchObject({ connected: true, entriesPending: 0, filesPending: 0 });
    await expectSameOnServer(clientRoot, serverRoot, "team/late/run", "COMPLETED");
  });

  it("a server SIGKILLed and restarted on its port mid-run: every entry arrives, once", async () => {
    const port = await freePort();
    const serverRoot = tempRoot();
    let child: ChildProcess = (await serve(serverRoot, ["--token", "secret", "--port", String(port)])).child;
    cleanup.push(() => child.kill("SIGKILL"));
    const clientRoot = tempRoot();
    const experiment = await new Experiment("team/restart/run", {
      dashRoot: clientRoot,
      dashUrl: `http://127.0.0.1:${port}`,
      token: "secret",
    }).start();
    await record(experiment, 11, 2000);
    await experiment.flush();
    await new Promise((resolve) => setTimeout(resolve, 300));
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    await record(experiment, 12, 2000);
    await experiment.flush();
    child = (await serve(serverRoot, ["--token", "secret", "--port", String(port)])).child;
    await experiment.complete();
    await expectSameOnServer(clientRoot, serverRoot, "team/restart/run", "COMPLETED");
  });

  it("5xx, 429 and dropped connections from a fault-injecting proxy: the server ends with exactly the spool (random programs, shrunk on failure)", async () => {
    const topics = ["robot/position", "robot/control"] as const;
    const operation = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record({
          kind: fc.constant("append" as const),
          topic: fc.constantFrom(...topics),
          timestamp: fc.integer({ min: 0, max: 40 }),
          x: fc.double({ noNaN: true, noDefaultInfinity: true }),
          label: fc.string({ maxLength: 6 }),
        }),
      },
      { weight: 1, arbitrary: fc.constant({ kind: "flush" as const }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("log" as const), message: fc.string({ maxLength: 12 }) }) },
      {
        weight: 1,
        arbitrary: fc.record({ kind: fc.constant("metric" as const), loss: fc.double({ noNaN: true, noDefaultInfinity: true }) }),
      },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("param" as const), value: fc.integer() }) },
      {
        weight: 1,
        arbitrary: fc.record({ kind: fc.constant("file" as const), n: fc.integer({ min: 0, max: 3 }), text: fc.string({ maxLength: 20 }) }),
      },
    );
    let run = 0;
    let faults = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(operation, { maxLength: 60 }),
        fc.integer({ min: 1, max: 2 ** 30 }),
        fc.integer({ min: 5, max: 40 }),
        async (program, seed, percent) => {
          const rate = percent / 100;
          const { root: serverRoot, server: started } = await server();
          let state = seed;
          const kinds: Fault[] = ["503", "429", "drop-before", "drop-after"];
          const proxy = await faultyProxy(started.url, () => {
            state = (state * 69069 + 1) % 2 ** 32;
            const r = state / 2 ** 32;
            return r < rate ? (kinds[Math.floor((r / rate) * kinds.length)] as Fault) : "pass";
          });
          const clientRoot = tempRoot();
          const prefix = `team/faults/run-${run++}`;
          const experiment = await new Experiment(prefix, { dashRoot: clientRoot, dashUrl: proxy.url, token: "secret" }).start();
          for (const step of program) {
            if (step.kind === "append")
              experiment.track(step.topic).append({ x: step.x, label: step.label }, { timestamp: step.timestamp });
            else if (step.kind === "flush") await experiment.flush();
            else if (step.kind === "log") experiment.log(step.message, { metadata: { seed } });
            else if (step.kind === "metric") experiment.metrics("train").log({ loss: step.loss });
            else if (step.kind === "param") experiment.params.set({ p: step.value });
            else await experiment.files("robot/frames").save(Buffer.from(step.text), { to: `frame_${step.n}.txt` });
          }
          await experiment.complete();
          await expectSameOnServer(clientRoot, serverRoot, prefix, "COMPLETED");
          faults += proxy.counts["503"] + proxy.counts["429"] + proxy.counts["drop-before"] + proxy.counts["drop-after"];
        },
      ),
      { numRuns: 10, seed: 20261201 },
    );
    expect(faults).toBeGreaterThan(10); // the programs met the faults they are about
  });

  it("segments compaction merged from segments already sent are not sent again", async () => {
    const { root: serverRoot, server: started } = await server();
    const clientRoot = tempRoot();
    const experiment = await new Experiment("team/compact/run", { dashRoot: clientRoot, dashUrl: started.url, token: "secret" }).start();
    for (let flush = 0; flush < 24; flush++) {
      for (let i = 0; i < 100; i++) experiment.track("t").append({ i }, { timestamp: flush * 100 + i });
      await experiment.flush();
      while ((experiment.stats().upload?.entriesPending ?? 1) > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await experiment.complete();
    const stats = experiment.stats();
    expect(stats.compactions).toBeGreaterThan(0);
    expect(stats.upload?.entriesUploaded).toBe(2400);
    await expectSameOnServer(clientRoot, serverRoot, "team/compact/run", "COMPLETED");
  });

  it("a backlog of slow file uploads does not hold back track entries", async () => {
    const { root: serverRoot, server: started } = await server();
    // Every file upload takes 300 ms; other requests go straight through.
    const url = await listen((req, res) =>
      relay(req, res, started.url, String(req.headers["content-type"]).startsWith("multipart/") ? 300 : 0),
    );
    const clientRoot = tempRoot();
    const experiment = await new Experiment("team/frames/run", { dashRoot: clientRoot, dashUrl: url, token: "secret" }).start();
    for (let i = 0; i < 40; i++) await experiment.files("frames").save(Buffer.alloc(50_000, i), { to: `frame_${i}.bin` });
    for (let i = 0; i < 20_000; i++) experiment.track("robot/state").append({ i }, { timestamp: i });
    await experiment.flush();
    let upload = experiment.stats().upload;
    while ((upload?.entriesPending ?? 1) > 0) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      upload = experiment.stats().upload;
    }
    // Every entry is on the server while most frames still wait (40 × 300 ms, 4 at a time ≥ 3 s).
    expect(upload?.filesPending).toBeGreaterThan(10);
    await experiment.complete();
    await expectSameOnServer(clientRoot, serverRoot, "team/frames/run", "COMPLETED");
  });

  it("a wrong or missing token is ERR_DASH_UNAUTHORIZED at start(), and the experiment can be started again", async () => {
    const { server: started } = await server({ tokens: ["right"] });
    const dashRoot = tempRoot();
    const wrong = new Experiment("team/auth/run", { dashRoot, dashUrl: started.url, token: "wrong" });
    await expect(wrong.start()).rejects.toMatchObject({ code: "ERR_DASH_UNAUTHORIZED", message: expect.stringContaining("token option") });
    const config = tempRoot();
    const previous = process.env.ML_DASH_CONFIG_DIR;
    process.env.ML_DASH_CONFIG_DIR = config;
    cleanup.push(() => {
      if (previous === undefined) delete process.env.ML_DASH_CONFIG_DIR;
      else process.env.ML_DASH_CONFIG_DIR = previous;
    });
    const missing = new Experiment("team/auth/run", { dashRoot, dashUrl: started.url });
    await expect(missing.start()).rejects.toMatchObject({ code: "ERR_DASH_UNAUTHORIZED", message: expect.stringContaining("nowhere") });
    writeFileSync(join(config, "tokens.json"), JSON.stringify({ "ml-dash-token": "right" }));
    const stored = await new Experiment("team/auth/run", { dashRoot, dashUrl: started.url }).start();
    stored.track("t").append({ x: 1 }, { timestamp: 1 });
    await stored.complete();
    expect(stored.stats().upload?.entriesUploaded).toBe(1);
  });

  it("a refusal (400) is not retried forever: complete() rejects ERR_DASH_REMOTE_REFUSED naming what stays in the spool", async () => {
    const { server: started } = await server();
    const url = await listen((req, res) => {
      if (req.url?.includes("/append_batch")) res.writeHead(400, { "Content-Type": "application/json" }).end('{"error":{"message":"no"}}');
      else relay(req, res, started.url);
    });
    const experiment = await new Experiment("team/refused/run", { dashRoot: tempRoot(), dashUrl: url, token: "secret" }).start();
    experiment.track("robot/position").append({ x: 1 }, { timestamp: 1 });
    const failure = experiment.complete();
    await expect(failure).rejects.toMatchObject({ code: "ERR_DASH_REMOTE_REFUSED", message: expect.stringContaining("1 track entries") });
    expect(experiment.status).toBe("COMPLETED"); // locally: the data is all there
  });

  it("past uploadTimeout, complete() rejects ERR_DASH_REMOTE_TIMEOUT with what is pending; push sends it later", async () => {
    const port = await freePort();
    const clientRoot = tempRoot();
    const url = `http://127.0.0.1:${port}`;
    const experiment = await new Experiment("team/timeout/run", {
      dashRoot: clientRoot,
      dashUrl: url,
      token: "secret",
      uploadTimeout: 1,
    }).start();
    await record(experiment, 3, 1000);
    const failure = await experiment.complete().catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: "ERR_DASH_REMOTE_TIMEOUT" });
    expect((failure as Error).message).toMatch(/Pending: the experiment itself .*track entries .*files.*log lines/);
    expect((failure as Error).message).toContain(`dash-ingest push team/timeout/run --dash-url ${url}`);
    const { root: serverRoot } = await server({ port });
    const out = await runCli(["push", "team/timeout/run", "--dash-url", url, "--token", "secret", "--dash-root", clientRoot]);
    expect(out).toContain("status COMPLETED");
    await expectSameOnServer(clientRoot, serverRoot, "team/timeout/run", "COMPLETED");
    // Pushing again sends nothing: the cursor says the server has it all.
    expect(await runCli(["push", "team/timeout/run", "--dash-url", url, "--token", "secret", "--dash-root", clientRoot])).toContain(
      "sent now: 0 track entries, 0 files, 0 log lines, 0 metric points",
    );
  });

  it("a client SIGKILLed mid-upload: push completes the upload from the spool, each entry once", async () => {
    const { root: serverRoot, server: started } = await server();
    // Slow answers keep the upload behind the appends.
    const url = await listen((req, res) => relay(req, res, started.url, 40));
    const clientRoot = tempRoot();
    const child = spawn(process.execPath, [join(fixtures, "remote-writer.cjs"), clientRoot, url, "60000"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes("uploading")) resolve();
      });
      child.stderr?.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
      child.once("exit", (code) => reject(new Error(`the writer exited with ${code}: ${output}`)));
    });
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    const out = await runCli(["push", "team/kill/run", "--dash-url", started.url, "--token", "secret", "--dash-root", clientRoot]);
    expect(out).toContain("status RUNNING, unchanged");
    const local = await contents(clientRoot, "team/kill/run");
    expect(local.tracks["robot/state"]).toHaveLength(60000);
    await expectSameOnServer(clientRoot, serverRoot, "team/kill/run", "RUNNING");
  });

  it("a crafted cursor is refused with ERR_DASH_CORRUPT; a planted symbolic link is not written through", async () => {
    const { server: started } = await server();
    const dashRoot = tempRoot();
    const dir = join(dashRoot, "team/crafted/run");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, ".dash-ingest-upload.json"), JSON.stringify({ version: 1, servers: { [started.url]: { logs: -5 } } }));
    await expect(new Experiment("team/crafted/run", { dashRoot, dashUrl: started.url, token: "secret" }).start()).rejects.toMatchObject({
      code: "ERR_DASH_CORRUPT",
    });
    writeFileSync(join(dir, ".dash-ingest-upload.json"), JSON.stringify({ version: 1, servers: {} }));
    const outside = join(tempRoot(), "victim.txt");
    writeFileSync(outside, "untouched");
    symlinkSync(outside, join(dir, ".dash-ingest-upload.json.tmp"));
    const experiment = await new Experiment("team/crafted/run", { dashRoot, dashUrl: started.url, token: "secret" }).start();
    experiment.track("t").append({ x: 1 }, { timestamp: 1 });
    await experiment.complete();
    expect(readFileSync(outside, "utf8")).toBe("untouched");
    expect(experiment.stats().upload?.entriesUploaded).toBe(1);
  });

  it("bad options are TypeErrors and RangeErrors with codes", () => {
    expect(() => new Experiment("a/b", { dashUrl: "ftp://x" })).toThrow(expect.objectContaining({ code: "ERR_DASH_INVALID_ARGUMENT" }));
    expect(() => new Experiment("solo", { dashUrl: "http://127.0.0.1:1" })).toThrow(RangeError);
    expect(() => new Experiment("a/b", { dashUrl: "http://127.0.0.1:1", uploadTimeout: -1 })).toThrow(RangeError);
    expect(() => new Experiment("a/b", { token: "x" })).toThrow(TypeError);
  });

  it("push without a server URL is a usage error (exit 2)", async () => {
    const failure = await runCli(["push", "a/b"]).catch((error: Error) => error);
    expect(String(failure)).toMatch(/push needs --dash-url/);
    expect(String(failure)).toMatch(/Command failed/);
  });
});

/** One request as a recording server saw it. */
interface Recorded {
  method: string;
  path: string;
  contentType: string;
  authorization: string | undefined;
  operation?: string;
  json?: Record<string, unknown>;
  form?: Record<string, string>;
  file?: { filename: string | undefined; bytes: string };
}

/** Ids longer than a double holds, as bare JSON numbers: a JS client must keep them exact. */
const IDS = { project: "9007199254740993001", experiment: "9007199254740993002", node: "9007199254740993003" };

/**
 * A server answering the contract's minimal routes (bare 19-digit numeric ids) that records every
 * request: the oracle for "our requests are the SDK's".
 */
async function recordingServer(): Promise<{ url: string; requests: Recorded[] }> {
  const requests: Recorded[] = [];
  let folders = 0;
  const url = await listen((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const contentType = String(req.headers["content-type"] ?? "");
      const seen: Recorded = {
        method: req.method ?? "",
        path: req.url ?? "",
        contentType: contentType.split(";")[0] ?? "",
        authorization: req.headers.authorization,
      };
      let answer = "{}";
      if (contentType.startsWith("multipart/")) {
        const parts = multipart(body, contentType) ?? new Map();
        seen.form = {};
        for (const [name, part] of parts) {
          if (name === "file") seen.file = { filename: part.filename, bytes: part.data.toString("utf8") };
          else seen.form[name] = part.data.toString("utf8");
        }
      } else if (body.length > 0) {
        // Long integers (ids) kept exact, and told apart from strings.
        const exact = body.toString("utf8").replace(/(?<=[:,[]\s*)(-?\d{16,})(?=\s*[,}\]])/g, '"#$1"');
        seen.json = JSON.parse(exact) as Record<string, unknown>;
      }
      if (seen.path === "/graphql") {
        const query = String(seen.json?.query ?? "");
        seen.operation = /query (\w+)/.exec(query)?.[1];
        if (seen.operation === "GetProject") answer = '{"data":{"namespace":{"projects":[]}}}';
        else if (query.includes("projectId")) answer = `{"data":{"experimentById":{"projectId":${IDS.project}}}}`;
        else if (seen.operation === "GetExpInfo")
          answer = '{"data":{"experimentById":{"project":{"slug":"robotics","namespace":{"slug":"alice"}}}}}';
        else if (seen.operation === "GetExperimentPath") answer = '{"data":{"project":{"nodes":[]}}}';
        else answer = '{"data":{}}';
      } else if (seen.path.endsWith("/nodes") && seen.json !== undefined) {
        const type = seen.json.type;
        if (type === "PROJECT") answer = `{"project":{"id":${IDS.project}}}`;
        else if (type === "EXPERIMENT") answer = `{"experiment":{"id":${IDS.experiment}},"node":{"id":${IDS.node}}}`;
        else answer = `{"node":{"id":${BigInt(IDS.node) + BigInt(++folders)}}}`;
      }
      requests.push(seen);
      res.writeHead(200, { "Content-Type": "application/json" }).end(answer);
    });
  });
  return { url, requests };
}

/** Requests of a kind: a description that names the route, for comparing one client's with the other's. */
function route(r: Recorded): string {
  if (r.path === "/graphql") return `GraphQL ${r.operation}`;
  if (r.path.endsWith("/nodes")) return `POST nodes ${r.form?.type ?? r.json?.type}`;
  return `${r.method} ${r.path}`;
}

/** Values that differ from run to run (times) replaced by their shape. */
function normalized(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalized);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => {
        if (k === "_ts" && typeof v === "number") return [k, "<epoch seconds>"];
        if (k === "timestamp" && typeof v === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(v)) return [k, "<ISO time>"];
        return [k, normalized(v)];
      }),
    );
  }
  return value;
}

describe.runIf(runsWithPython("ml_dash"))("remote mode sends what the Python SDK sends", () => {
  it("the same routes, JSON bodies, multipart fields and ids, for the same program", async () => {
    const sdk = await recordingServer();
    const config = tempRoot();
    writeFileSync(join(config, "tokens.json"), JSON.stringify({ "ml-dash-token": "tok" }));
    const env: NodeJS.ProcessEnv = { ...process.env, ML_DASH_CONFIG_DIR: config, ML_DASH_NO_VERSION_CHECK: "1" };
    delete env.DREAMLAKE_EXPERIMENT_BROKER;
    delete env.DREAMLAKE_EXPERIMENT_BROKER_TOKEN;
    await new Promise<void>((resolve, reject) =>
      execFile(python, [join(__dirname, "python", "sdk_contract.py"), sdk.url], { env, cwd: config }, (error, _out, stderr) =>
        error === null ? resolve() : reject(new Error(`${error.message}\n${stderr}`)),
      ),
    );
    const ours = await recordingServer();
    const experiment = await new Experiment("alice/robotics/sims/run-7", {
      dashRoot: tempRoot(),
      dashUrl: ours.url,
      token: "tok",
      tags: ["a", "b"],
      description: "about it",
    }).start();
    experiment.params.set({ lr: 0.1, opt: { name: "adam" } });
    experiment.log("hello", { level: "info", metadata: { k: 1 } });
    for (let i = 0; i < 3; i++) experiment.track("robot/position").append({ x: i, y: 2.5 }, { timestamp: i + 1 });
    experiment.metrics("train").log({ step: 0, loss: 0.5 });
    await experiment.files("robot/frames").save(Buffer.from("hello"), { to: "note.txt" });
    await experiment.complete();

    for (const r of [...sdk.requests, ...ours.requests]) expect(r.authorization).toBe("Bearer tok");
    // Every route we use is one the SDK uses; we skip only its repeated lookups.
    const sdkRoutes = new Set(sdk.requests.map(route));
    expect([...new Set(ours.requests.map(route))].filter((r) => !sdkRoutes.has(r))).toEqual([]);
    const byRoute = (requests: Recorded[], name: string) => requests.filter((r) => route(r) === name);
    for (const name of sdkRoutes) {
      if (name.startsWith("GraphQL Get") && name !== "GraphQL GetProject" && name !== "GraphQL GetExperimentProject") continue;
      const theirs = byRoute(sdk.requests, name);
      const mine = byRoute(ours.requests, name);
      expect(mine.length, name).toBeGreaterThan(0);
      for (const request of mine) expect(request.contentType, name).toBe(theirs[0]?.contentType);
      if (name === "POST nodes FILE") {
        expect(mine.map((r) => [r.form, r.file])).toEqual(theirs.map((r) => [r.form, r.file]));
      } else if (name === "POST nodes FOLDER") {
        // The SDK posts the file's folders again for every file; the same bodies, once each.
        expect(new Set(mine.map((r) => JSON.stringify(r.json)))).toEqual(new Set(theirs.map((r) => JSON.stringify(r.json))));
      } else if (name.startsWith("GraphQL")) {
        expect(mine.map((r) => r.json?.variables)).toEqual(theirs.slice(0, mine.length).map((r) => r.json?.variables));
      } else {
        expect(
          mine.map((r) => normalized(r.json)),
          name,
        ).toEqual(theirs.map((r) => normalized(r.json)));
      }
    }
    // The 19-digit ids came back exact in paths and bodies.
    expect(ours.requests.some((r) => r.path === `/api/experiments/${IDS.experiment}/tracks/robot%2Fposition/append_batch`)).toBe(true);
    expect(ours.requests.some((r) => r.path === `/api/nodes/${IDS.node}`)).toBe(true);
  });
});

describe("remote mode's parts", () => {
  it("ids longer than a double stay exact and go back as the server sent them (number or string)", () => {
    const reply = parseLossless(
      '{"a":{"id":9007199254740993001},"b":{"id":"x-1"},"c":42,"d":[1.5e300,-12345678901234567890],"e":"9007199254740993001"}',
    );
    const big = idOf((reply as { a: { id: unknown } }).a.id) as Id;
    expect(big).toMatchObject({ text: "9007199254740993001", numeric: true });
    expect(idOf((reply as { b: { id: unknown } }).b.id)).toMatchObject({ text: "x-1", numeric: false });
    expect(jsonBody({ parentId: big, name: "f", n: idOf(42) })).toBe('{"parentId":9007199254740993001,"name":"f","n":42}');
    expect((reply as { e: string }).e).toBe("9007199254740993001");
    fc.assert(
      // JSON without integer literals of 16 digits or more, which it keeps exact on purpose.
      fc.property(
        fc.json().filter((text) => !/-?\d{16,}/.test(text)),
        (text) => {
          expect(parseLossless(text)).toEqual(JSON.parse(text));
        },
      ),
    );
  });

  it.runIf(runsWithPython("ml_dash", "cryptography"))(
    "path segments are encoded as urllib.parse.quote(s, safe=''); Fernet tokens decrypt as cryptography makes them",
    () => {
      const samples = fc
        .sample(fc.string({ unit: "binary", maxLength: 12 }), { numRuns: 300, seed: 7 })
        .concat(["robot/position", "a b/ü?#", "!*'()~._-"]);
      const script = [
        "import json, sys, urllib.parse",
        "from cryptography.fernet import Fernet",
        "samples = json.load(sys.stdin)",
        "key = Fernet.generate_key()",
        'token = Fernet(key).encrypt(json.dumps({"ml-dash-token": "sécret"}).encode())',
        'print(json.dumps({"quoted": [urllib.parse.quote(s, safe="") for s in samples], "key": key.decode(), "token": token.decode()}))',
      ].join("\n");
      const out = JSON.parse(execFileSync(python, ["-c", script], { input: JSON.stringify(samples), encoding: "utf8" })) as {
        quoted: string[];
        key: string;
        token: string;
      };
      // Lone surrogates are not text Python can encode; JS refuses them too (URIError).
      const encodable = samples.map((sample, i) => [sample, out.quoted[i]] as const).filter(([sample]) => sample.isWellFormed());
      for (const [sample, quoted] of encodable) expect(quote(sample)).toBe(quoted);
      expect(JSON.parse(fernetDecrypt(out.key, out.token).toString("utf8"))).toEqual({ "ml-dash-token": "sécret" });
      expect(() => fernetDecrypt(out.key, `${out.token.slice(0, -4)}AAAA`)).toThrow();
    },
  );

  it("what is retried: connection errors, 5xx, 429 and non-JSON answers, waiting at least Retry-After (seconds or a date)", async () => {
    const url = await listen((req, res) => {
      const status = Number(req.url?.split("/")[3]); // /api/s/<status>
      const headers: Record<string, string> = { "Content-Type": "application/json" };
      if (req.url?.endsWith("/date")) headers["Retry-After"] = new Date(Date.now() + 3000).toUTCString();
      else if (status === 429 || status === 503) headers["Retry-After"] = "2";
      req.resume();
      res.writeHead(status, headers).end(status === 200 ? "<html>" : '{"error":{}}');
    });
    const client = new RemoteClient(url, "t");
    const failure = (path: string) => client.send({ method: "POST", path, body: "{}" }).catch((error: RemoteError) => error);
    const throttled = (await failure("/s/429")) as RemoteError;
    expect(throttled).toMatchObject({ status: 429, retryable: true, retryAfterMs: 2000 });
    expect(backoffMs(0, throttled)).toBeGreaterThanOrEqual(2000);
    const dated = (await failure("/s/503/date")) as RemoteError;
    expect(dated.retryAfterMs).toBeGreaterThan(0);
    expect(dated.retryAfterMs).toBeLessThanOrEqual(3000);
    expect(await failure("/s/500")).toMatchObject({ retryable: true });
    expect(await failure("/s/200")).toMatchObject({ retryable: true, message: expect.stringContaining("not JSON") });
    expect(await failure("/s/400")).toMatchObject({ retryable: false, code: "ERR_DASH_REMOTE_REFUSED" });
    expect(await failure("/s/401")).toMatchObject({ retryable: false, code: "ERR_DASH_UNAUTHORIZED" });
    const unreachable = await new RemoteClient(`http://127.0.0.1:${await freePort()}`, "t")
      .send({ method: "GET", path: "/x" })
      .catch((e: RemoteError) => e);
    expect(unreachable).toMatchObject({ retryable: true });
  });

  it("the token store: tokens.encrypted before tokens.json; a store that cannot be read is a clear error without its contents", () => {
    const dir = tempRoot();
    expect(storedToken(dir)).toBeUndefined();
    writeFileSync(join(dir, "tokens.json"), JSON.stringify({ "ml-dash-token": "plain" }));
    expect(storedToken(dir)).toBe("plain");
    writeFileSync(join(dir, "tokens.encrypted"), "whatever");
    expect(() => storedToken(dir)).toThrow(
      expect.objectContaining({ code: "ERR_DASH_UNAUTHORIZED", message: expect.stringContaining("encryption.key is missing") }),
    );
    writeFileSync(join(dir, "encryption.key"), "not a key");
    const error = (() => {
      try {
        storedToken(dir);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toMatchObject({ code: "ERR_DASH_UNAUTHORIZED" });
    expect(error?.message).not.toContain("whatever");
    const other = tempRoot();
    writeFileSync(join(other, "tokens.json"), '{"ml-dash-token": 5}');
    expect(() => storedToken(other)).toThrow(expect.objectContaining({ code: "ERR_DASH_UNAUTHORIZED" }));
  });
});

function runCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(process.execPath, [cli, ...args], (error, stdout, stderr) =>
      error === null ? resolve(stdout) : reject(new Error(`${error.message}\n${stderr}`)),
    ),
  );
}
