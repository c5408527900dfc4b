/**
 * A real S3-compatible store for the tests: SeaweedFS (`scripts/seaweedfs.sh` builds `weed`),
 * started on loopback ports with a test key, in a fresh directory. Tests that need it skip without
 * the binary, except under `CI=true`, where `.ci/run` builds it and they run.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";

/** A TCP port free right now on 127.0.0.1 (for a server that must come back on the same one). */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

const VERSION = "v0.0.0-20261109003541-7506e5f91cd6";

/** `weed`: `DASH_INGEST_WEED`, or where `scripts/seaweedfs.sh` keeps it. */
export const weed =
  process.env.DASH_INGEST_WEED ??
  join(process.env.DASH_INGEST_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "dash-ingest"), `weed-${VERSION}`);

/** Whether the object-store tests run: the binary is there, or CI requires them. */
export const runsWithStore = existsSync(weed) || process.env.CI === "true";

export const ACCESS_KEY = "dashingesttest";
export const SECRET_KEY = "dashingesttestsecret";

export interface Store {
  /** `http://127.0.0.1:<port>`: `AWS_ENDPOINT_URL` for clients. */
  endpoint: string;
  port: number;
  /** The environment a client process needs (endpoint, region, the test key). */
  env: Record<string, string>;
  /** A client of the store, for the tests' own checks. */
  client: S3Client;
  createBucket(name: string): Promise<void>;
  /** Stops the store (SIGKILL: as if its machine went away); `start()` brings it back, same data and port. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

async function waitForS3(endpoint: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`weed exited with ${child.exitCode}: ${log()}`);
    const answer = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
    if (answer !== undefined && answer.status < 500) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`weed's S3 gateway did not answer at ${endpoint} within 60 s: ${log()}`);
}

/**
 * Starts SeaweedFS with the S3 gateway on loopback. A start that fails (seen once: a port another
 * process took between our probe and weed's bind) is tried again on fresh ports, twice.
 */
export async function startStore(): Promise<Store> {
  // The AWS SDK's notice that its releases from 2027 need Node 22 (the pinned one supports 20).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  for (let attempt = 1; ; attempt++) {
    try {
      return await startStoreOnce();
    } catch (error) {
      if (attempt === 3) throw error;
    }
  }
}

async function startStoreOnce(): Promise<Store> {
  const dir = mkdtempSync(join(tmpdir(), "dash-weed-"));
  const identities = join(dir, "s3.json");
  writeFileSync(
    identities,
    JSON.stringify({
      identities: [
        {
          name: "test",
          credentials: [{ accessKey: ACCESS_KEY, secretKey: SECRET_KEY }],
          actions: ["Admin", "Read", "Write", "List", "Tagging"],
        },
      ],
    }),
  );
  const ports = { master: 0, volume: 0, filer: 0, s3: 0 };
  for (const name of Object.keys(ports) as (keyof typeof ports)[]) ports[name] = await freePort();
  const grpc = { master: await freePort(), volume: await freePort(), filer: await freePort(), s3: await freePort() };
  const args = [
    "server",
    `-dir=${join(dir, "data")}`,
    "-ip=127.0.0.1",
    "-ip.bind=127.0.0.1",
    `-master.port=${ports.master}`,
    `-master.port.grpc=${grpc.master}`,
    `-volume.port=${ports.volume}`,
    `-volume.port.grpc=${grpc.volume}`,
    `-filer.port=${ports.filer}`,
    `-filer.port.grpc=${grpc.filer}`,
    "-filer",
    "-s3",
    `-s3.port=${ports.s3}`,
    `-s3.port.grpc=${grpc.s3}`,
    "-s3.port.iceberg=0",
    "-s3.port.lance=0",
    `-s3.config=${identities}`,
    "-volume.max=0",
    "-master.volumeSizeLimitMB=64",
  ];
  const endpoint = `http://127.0.0.1:${ports.s3}`;
  let child: ChildProcess | undefined;
  let output = "";
  const start = async () => {
    mkdirSync(join(dir, "data"), { recursive: true });
    output = "";
    child = spawn(weed, args, { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout?.on("data", (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-20_000);
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-20_000);
    });
    const started = child;
    await waitForS3(endpoint, started, () => output).catch((error: unknown) => {
      started.kill("SIGKILL");
      throw error;
    });
  };
  await start();
  const env = {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: SECRET_KEY,
  };
  const client = new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
  });
  return {
    endpoint,
    port: ports.s3,
    env,
    client,
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    async stop() {
      const running = child;
      if (running === undefined || running.exitCode !== null) return;
      const exited = new Promise((resolve) => running.once("exit", resolve));
      running.kill("SIGKILL");
      await exited;
    },
    start,
  };
}
