/**
 * `dash-ingest serve`: the real Python ml-dash SDK (remote mode, `dash_url` only) records through
 * the server into the dash root, where the local API, the CLI and DuckDB read it; bad requests get
 * the right status and write nothing. The SDK needs `.venv-mldash` (`npm run setup:python`, with
 * numpy and pillow for the seed's frames); under `CI=true` a missing one fails instead of skipping.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import jpeg from "jpeg-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Experiment } from "../src/index.js";
import { type DashServer, startServer } from "../src/serve.js";
import { freePort, python, pythonHas, serve, tempRoot } from "./helpers.js";

const available = pythonHas("ml_dash", "numpy", "PIL");
const required = process.env.CI === "true";

/** A scratch directory with the SDK's token file, and the environment that points the SDK at it. */
function sdkEnvironment(token: string, extra: Record<string, string> = {}): { cwd: string; env: NodeJS.ProcessEnv } {
  const scratch = tempRoot();
  mkdirSync(join(scratch, "config"));
  writeFileSync(join(scratch, "config", "tokens.json"), JSON.stringify({ "ml-dash-token": token }));
  const env: NodeJS.ProcessEnv = { ...process.env, ML_DASH_CONFIG_DIR: join(scratch, "config"), ML_DASH_NO_VERSION_CHECK: "1", ...extra };
  delete env.DREAMLAKE_EXPERIMENT_BROKER;
  delete env.DREAMLAKE_EXPERIMENT_BROKER_TOKEN;
  return { cwd: scratch, env };
}

/** Runs an SDK script in a scratch directory; returns its last line of output. */
function runSdk(script: string, args: string[], token: string): string {
  const { cwd: scratch, env } = sdkEnvironment(token);
  const out = execFileSync(python, [join(__dirname, "python", script), ...args], {
    cwd: scratch,
    env,
    encoding: "utf8",
    timeout: 120_000,
    stdio: ["ignore", "pipe", "pipe"],
  });
  return out.trim().split("\n").pop() as string;
}

describe.skipIf(!available && !required)("the Python SDK against dash-ingest serve", () => {
  let server: { child: ChildProcess; url: string };
  let root: string;

  beforeAll(async () => {
    expect(available, "the Python SDK with numpy and pillow (npm run setup:python)").toBe(true);
    root = tempRoot();
    server = await serve(root, ["--token", "secret"]);
  });

  afterAll(() => {
    server?.child.kill("SIGTERM");
  });

  it("runs the seed's complete robot-tracking example: every entry, frame, log, metric point and parameter arrives", async () => {
    const prefix = "alice/robotics/complete-tracking";
    const sent = JSON.parse(runSdk("sdk_remote_seed.py", [server.url, prefix, "1000"], "secret"));
    expect(sent).toEqual({ position: 250, control: 250, frames: 250, logs: 11, train: 250 });

    const record = JSON.parse(readFileSync(join(root, prefix, "experiment.json"), "utf8"));
    expect(record).toMatchObject({ status: "COMPLETED", name: "complete-tracking", tags: ["seed", "remote"] });
    const experiment = await Experiment.open(prefix, { dashRoot: root });
    try {
      const steps = Array.from({ length: 250 }, (_, i) => i * 4);
      const position = (await experiment.track("robot/position").read()).entries;
      expect(position.map((e) => e.step)).toEqual(steps);
      expect(position.map((e) => e.timestamp)).toEqual(steps);
      expect(position[1]).toMatchObject({ frame: "frame_00004.jpg" });
      expect(position[1]?.pos).toHaveLength(3);
      const control = (await experiment.track("robot/control").read()).entries;
      expect(control.map((e) => e.step)).toEqual(steps);
      expect(Object.keys(control[0] ?? {}).sort()).toEqual(["ctrl_0", "ctrl_1", "step", "timestamp"]);

      const frames = await experiment.files("robot/frames").list("frame_*.jpg");
      expect(frames).toHaveLength(250);
      const image = jpeg.decode(await experiment.files("robot/frames").read("frame_00004.jpg"));
      expect([image.width, image.height]).toEqual([640, 480]);

      const train = await experiment.metrics("train").read({ limit: 1000 });
      expect(train.data.map((p) => p.data.step)).toEqual(steps);
      expect(experiment.params.get()).toEqual({ "sim.dt": 0.002, "sim.steps": 1000, record_interval: 4, robot: "two-link" });
    } finally {
      await experiment.close();
    }
    const logs = readFileSync(join(root, prefix, "logs", "logs.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(logs).toHaveLength(11);
    expect(logs[0]).toMatchObject({ level: "info", message: "Starting robot tracking experiment" });
    expect(logs[1]).toMatchObject({ message: "step 0", metadata: { step: 0 } });

    // The SDK reads it back through the server: files listed and downloaded (its checksum checked
    // by the SDK), the track, the parameters.
    const downloads = tempRoot();
    const back = JSON.parse(runSdk("sdk_remote_read.py", [server.url, prefix, downloads], "secret"));
    expect(back).toMatchObject({ files: 250, positions: 250, first: { step: 0, timestamp: 0 } });
    expect(back.params).toMatchObject({ robot: "two-link", record_interval: 4 });
    expect(back.train).toEqual(Array.from({ length: 250 }, (_, i) => i * 4));
    expect(back.trainColumns).toEqual(["_ts", "ctrl_norm", "step"]);
    expect(jpeg.decode(readFileSync(back.frame))).toMatchObject({ width: 640, height: 480 });
  });

  /**
   * Starts an SDK script; `onLine` sees each line it prints (stdout and stderr); resolves with its
   * exit code and output.
   */
  function startSdk(script: string, args: string[], onLine: (line: string) => void = () => undefined) {
    const { cwd, env } = sdkEnvironment("secret", {
      ML_DASH_MAX_RETRIES: "12",
      ML_DASH_RETRY_BASE_DELAY: "0.2",
      ML_DASH_RETRY_MAX_DELAY: "2",
    });
    const child = spawn(python, [join(__dirname, "python", script), ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    for (const stream of [child.stdout, child.stderr]) {
      let pending = "";
      stream.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        pending += chunk.toString();
        const lines = pending.split("\n");
        pending = lines.pop() ?? "";
        for (const line of lines) onLine(line);
      });
    }
    return new Promise<{ code: number | null; output: string }>((resolve) => child.once("exit", (code) => resolve({ code, output })));
  }

  async function steps(prefix: string, topic: string, dashRoot = root): Promise<number[]> {
    const experiment = await Experiment.open(prefix, { dashRoot });
    try {
      return (await experiment.track(topic).read()).entries.map((e) => e.step as number);
    } finally {
      await experiment.close();
    }
  }

  it("a server SIGKILLed after acknowledged flushes and restarted on its port: every track entry, log line and metric point exactly once", async () => {
    const port = await freePort();
    const killRoot = tempRoot();
    let first = await serve(killRoot, ["--token", "secret", "--port", String(port)]);
    let killed: Promise<void> | undefined;
    let restarted: Promise<void> | undefined;
    const prefix = "alice/robotics/killed";
    const run = startSdk("sdk_remote_steady.py", [first.url, prefix, "3000", "250"], (line) => {
      if (line === "flushed 749" && killed === undefined) {
        // Acknowledged: three flushes. Kill the server.
        first.child.kill("SIGKILL");
        killed = new Promise<void>((resolve) => first.child.once("exit", () => resolve()));
      } else if (killed !== undefined && restarted === undefined && /retry/i.test(line)) {
        // The SDK met the dead server and is retrying: bring up another on the same port.
        restarted = killed.then(async () => {
          first = await serve(killRoot, ["--token", "secret", "--port", String(port)]);
        });
      }
    });
    const { code, output } = await run;
    await restarted;
    first.child.kill("SIGTERM");
    await new Promise<void>((resolve) => first.child.once("exit", () => resolve()));
    expect(code, output).toBe(0);
    expect(restarted, "the server was killed mid-run, and the SDK retried").toBeDefined();
    expect(await steps(prefix, "robot/state", killRoot)).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    const flushed = Array.from({ length: 12 }, (_, i) => 250 * i + 249);
    const experiment = await Experiment.open(prefix, { dashRoot: killRoot });
    try {
      expect((await experiment.metrics("progress").read()).data.map((p) => p.data.step)).toEqual(flushed);
    } finally {
      await experiment.close();
    }
    const logs = readFileSync(join(killRoot, prefix, "logs", "logs.jsonl"), "utf8")
      .trim()
      .split("\n");
    // The SDK's lines, each once (a restarted server may add its own warning: what it recovered).
    const sdkLines = logs.map((line) => JSON.parse(line)).filter((line) => line.level === "info");
    expect(sdkLines.map((line) => line.message)).toEqual(flushed.map((step) => `reached step ${step}`));
    const record = JSON.parse(readFileSync(join(killRoot, prefix, "experiment.json"), "utf8"));
    expect(record.status).toBe("COMPLETED");
  });

  it("four SDK processes at once, each its own experiment: every entry exactly once", async () => {
    const prefixes = [0, 1, 2, 3].map((i) => `team/parallel/run-${i}`);
    const runs = await Promise.all(prefixes.map((prefix) => startSdk("sdk_remote_steady.py", [server.url, prefix, "2000", "500"])));
    for (const { code, output } of runs) expect(code, output).toBe(0);
    for (const prefix of prefixes) expect(await steps(prefix, "robot/state")).toEqual(Array.from({ length: 2000 }, (_, i) => i));
  });

  it("refuses a client with the wrong token (401), and the SDK's run fails instead of losing data silently", () => {
    expect(() => runSdk("sdk_remote_seed.py", [server.url, "alice/robotics/wrong-token", "8"], "not-the-token")).toThrow(/401/);
    expect(existsSync(join(root, "alice", "robotics", "wrong-token"))).toBe(false);
  });
});

describe("dash-ingest serve: requests it refuses", () => {
  let server: DashServer;
  let root: string;
  const auth = { authorization: "Bearer t" };

  beforeAll(async () => {
    root = join(tempRoot(), "root");
    server = await startServer({ dashRoot: root, port: 0, tokens: ["t"], maxBodyBytes: 64 * 1024 });
  });

  afterAll(async () => {
    await server?.close();
  });

  async function post(
    path: string,
    body: unknown,
    headers: Record<string, string> = auth,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(`${server.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  async function openExperiment(name: string): Promise<string> {
    const { status, body } = await post("/api/namespaces/ns/nodes", { type: "EXPERIMENT", name, parentId: "ROOT", projectSlug: "proj" });
    expect(status).toBe(201);
    return (body.experiment as { id: string }).id;
  }

  it("401 without a token or with a wrong one", async () => {
    expect((await post("/graphql", { query: "query { me { username } }" }, {})).status).toBe(401);
    const wrong = await post("/graphql", { query: "query { me { username } }" }, { authorization: "Bearer x" });
    expect(wrong).toMatchObject({ status: 401, body: { error: { code: "ERR_DASH_UNAUTHORIZED" } } });
  });

  it("413 for a body over the limit; 400 for malformed JSON and entries without a timestamp; 404 for unknown ids", async () => {
    const id = await openExperiment("limits");
    const batch = `/api/experiments/${id}/tracks/t/append_batch`;
    const huge = await post(batch, { entries: [{ timestamp: 1, blob: "x".repeat(100_000) }] });
    expect(huge).toMatchObject({ status: 413, body: { error: { code: "ERR_DASH_TOO_LARGE" } } });
    expect(await post(batch, "{not json")).toMatchObject({ status: 400, body: { error: { code: "ERR_DASH_INVALID_ARGUMENT" } } });
    const untimed = await post(batch, { entries: [{ timestamp: 1, x: 1 }, { x: 2 }] });
    expect(untimed).toMatchObject({ status: 400, body: { error: { code: "ERR_DASH_INVALID_TIMESTAMP" } } });
    const userField = await post(batch, { entries: [{ timestamp: "user-field", z: 9 }] });
    expect(userField.status).toBe(400);
    expect(await post(`/api/experiments/e${Buffer.from("../../x").toString("base64url")}/logs`, { logs: [] })).toMatchObject({
      status: 400,
    });
    expect((await post("/api/experiments/nope/logs", { logs: [] })).status).toBe(404);
    // None of the refused batches wrote a row.
    expect((await post(batch, { entries: [{ timestamp: 2, x: 2 }] })).status).toBe(201);
    const read = await fetch(`${server.url}/api/experiments/${id}/tracks/t/data?format=json`, { headers: auth });
    expect(await read.json()).toMatchObject({ count: 1, entries: [{ timestamp: 2, x: 2 }] });
    const list = await fetch(`${server.url}/api/experiments/${id}/tracks?topic=t`, { headers: auth });
    expect(await list.json()).toEqual({ tracks: [{ topic: "t", totalEntries: 1, columns: ["x"], firstTimestamp: 2, lastTimestamp: 2 }] });
  });

  it("hostile topic, folder and file names: 400, and nothing is written outside the dash root", async () => {
    const id = await openExperiment("hostile");
    for (const topic of ["..%2F..%2Fescape", "%2Fabs", "a%00b"]) {
      const { status, body } = await post(`/api/experiments/${id}/tracks/${topic}/append_batch`, { entries: [{ timestamp: 1, x: 1 }] });
      expect(status, topic).toBe(400);
      expect((body.error as { code: string }).code).toBe("ERR_DASH_INVALID_NAME");
    }
    const folder = await post("/api/namespaces/ns/nodes", { type: "FOLDER", experimentId: id, parentId: "ROOT", name: ".." });
    expect(folder.status).toBe(400);
    expect(readdirSync(join(root, ".."))).toEqual(["root"]);
  });

  it("a write sent again (an answer lost, the server restarted) is stored once", async () => {
    const id = await openExperiment("again");
    const logs = { logs: [{ timestamp: "2026-12-01T10:00:00.123456Z", level: "info", message: "hello", metadata: { step: 1 } }] };
    const points = { dataPoints: [{ step: 1, loss: 0.5, _ts: 1796132564.69 }] };
    const entries = { entries: [{ timestamp: 5, x: 1 }] };
    const send = async () => {
      expect((await post(`/api/experiments/${id}/logs`, logs)).status).toBe(201);
      expect((await post(`/api/experiments/${id}/metrics/train/append-batch`, points)).status).toBe(201);
      expect((await post(`/api/experiments/${id}/tracks/t/append_batch`, entries)).status).toBe(201);
    };
    await send();
    await send();
    await server.close();
    server = await startServer({ dashRoot: root, port: 0, tokens: ["t"], maxBodyBytes: 64 * 1024 });
    await send();
    // A point with other data is another point.
    expect((await post(`/api/experiments/${id}/metrics/train/append-batch`, { dataPoints: [{ step: 2, _ts: 1796132565 }] })).status).toBe(
      201,
    );
    await server.close();
    server = await startServer({ dashRoot: root, port: 0, tokens: ["t"], maxBodyBytes: 64 * 1024 });
    const experiment = await Experiment.open("ns/proj/again", { dashRoot: root });
    try {
      expect((await experiment.metrics("train").read()).data.map((p) => p.data.step)).toEqual([1, 2]);
      expect((await experiment.track("t").read()).count).toBe(1);
    } finally {
      await experiment.close();
    }
    expect(
      readFileSync(join(root, "ns", "proj", "again", "logs", "logs.jsonl"), "utf8")
        .trim()
        .split("\n"),
    ).toHaveLength(1);
  });

  it("past maxOpenExperiments the least recently used one is released and reopened on demand, nothing lost", async () => {
    const small = await startServer({ dashRoot: root, port: 0, tokens: ["t"], maxOpenExperiments: 1 });
    const send = (path: string, body: unknown) =>
      fetch(`${small.url}${path}`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const ids: string[] = [];
    for (const name of ["lru-a", "lru-b"]) {
      const created = await send("/api/namespaces/ns/nodes", { type: "EXPERIMENT", name, parentId: "ROOT", projectSlug: "proj" });
      ids.push(((await created.json()) as { experiment: { id: string } }).experiment.id);
    }
    // Alternating between the two makes the server release and reopen them every request.
    for (let round = 0; round < 6; round++) {
      for (const id of ids) {
        const answer = await send(`/api/experiments/${id}/tracks/t/append_batch`, { entries: [{ timestamp: round, x: round }] });
        expect(answer.status).toBe(201);
      }
    }
    await small.close();
    for (const name of ["lru-a", "lru-b"]) {
      const experiment = await Experiment.open(`ns/proj/${name}`, { dashRoot: root });
      try {
        expect((await experiment.track("t").read()).entries.map((e) => e.x)).toEqual([0, 1, 2, 3, 4, 5]);
      } finally {
        await experiment.close();
      }
      expect(JSON.parse(readFileSync(join(root, "ns", "proj", name, "experiment.json"), "utf8")).status).toBe("RUNNING");
    }
  });

  it("refuses to listen beyond loopback without a token", async () => {
    await expect(startServer({ dashRoot: root, port: 0, host: "0.0.0.0" })).rejects.toMatchObject({ code: "ERR_DASH_INVALID_ARGUMENT" });
  });
});
