/**
 * A background job on its own thread — the remote uploader (`remote/`), the object-store publisher
 * (`store/`) — so that its network work goes on while the JS thread is busy appending, and costs
 * that thread nothing but a message. Both sides of the protocol are here.
 *
 * Out first: `started {refused?, unreachable?}` once the job's first attempt is answered (id 0).
 * Then requests, each answered with its `id`: `wake` (after a flush: counts what is pending and
 * looks for it now) answered `counted`; `finish {status, timeoutMs}` answered `finished` or
 * `failed {error}`. Counters live in shared memory, so `stats()` reads them without a message.
 */
import { extname, join } from "node:path";
import { type MessagePort, Worker } from "node:worker_threads";
import { dashError, type DashErrorCode } from "./errors.js";

interface Failure {
  code: DashErrorCode;
  message: string;
  status?: number;
}

type Reply = { id: number } & (
  | { type: "started"; refused?: Failure; unreachable?: string }
  | { type: "counted" }
  | { type: "finished" }
  | { type: "failed"; error: Failure }
);

/** What runs on the thread. */
export interface Job {
  /** The first attempt: a failure that is not `retryable` refuses the start; another one is only reported. */
  start(): Promise<{ message: string; retryable: boolean } | undefined>;
  /** Counts what is pending (into the shared counters). */
  count(): void | Promise<void>;
  /** Looks for new data now. */
  wake(): void;
  finish(status: string | undefined, timeoutMs: number): Promise<void>;
}

function failure(error: unknown): Failure {
  const { code, message, status } = error as { code?: unknown; message?: unknown; status?: unknown };
  return {
    code: (typeof code === "string" ? code : "ERR_DASH_INTERNAL") as DashErrorCode,
    message: typeof message === "string" ? message : String(error),
    ...(typeof status === "number" ? { status } : {}),
  };
}

/** The thread's side: creates the job, reports its start, then answers requests. */
export async function serveJob(port: MessagePort, create: () => Promise<Job>): Promise<void> {
  let job: Job;
  try {
    job = await create();
    const first = await job.start();
    if (first?.retryable === false) {
      port.postMessage({ id: 0, type: "started", refused: failure(first) });
      return;
    }
    port.postMessage({ id: 0, type: "started", ...(first === undefined ? {} : { unreachable: first.message }) });
  } catch (error) {
    port.postMessage({ id: 0, type: "started", refused: failure(error) });
    return;
  }
  port.on("message", async (message: { id: number; type: string; status?: string; timeoutMs?: number }) => {
    const { id } = message;
    if (message.type === "wake") {
      try {
        await job.count();
        port.postMessage({ id, type: "counted" });
      } catch (error) {
        port.postMessage({ id, type: "failed", error: failure(error) });
      }
      job.wake();
    } else if (message.type === "finish") {
      job.finish(message.status, message.timeoutMs ?? 0).then(
        () => port.postMessage({ id, type: "finished" }),
        (error: unknown) => port.postMessage({ id, type: "failed", error: failure(error) }),
      );
    }
  });
}

/** A worker file beside the caller's; from the TypeScript sources (tests), run through tsx. */
function spawn(dir: string, name: string, data: unknown): Worker {
  const file = join(dir, `${name}${extname(__filename)}`);
  const execArgv = extname(__filename) === ".ts" ? ["--require", require.resolve("tsx/cjs")] : [];
  return new Worker(file, { workerData: data, execArgv });
}

function toError(failure: Failure, hint = ""): Error {
  return Object.assign(
    dashError(failure.code, `${failure.message}${hint}`),
    failure.status === undefined ? {} : { status: failure.status },
  );
}

/** The JS thread's side: a running job, its counters, its requests. */
export class BackgroundJob<Counter extends string> {
  readonly #worker: Worker;
  readonly #counters: Float64Array;
  readonly #slots: Record<Counter, number>;
  /** Who waits for the reply to each request (request 0 is the start). */
  readonly #replies = new Map<number, (reply: Reply) => void>();
  #nextId = 1;
  #exited: Error | undefined;

  private constructor(worker: Worker, counters: Float64Array, slots: Record<Counter, number>) {
    this.#worker = worker;
    this.#counters = counters;
    this.#slots = slots;
    worker.on("message", (reply: Reply) => {
      this.#replies.get(reply.id)?.(reply);
      this.#replies.delete(reply.id);
      // Only a reply someone awaits keeps the process alive (an unfinished run may exit: its data
      // stays in the local spool).
      if (this.#replies.size === 0) worker.unref();
    });
    const gone = (error: Error) => {
      this.#exited = error;
      for (const [id, waiting] of this.#replies)
        waiting({ id, type: "failed", error: { code: "ERR_DASH_INTERNAL", message: error.message } });
      this.#replies.clear();
    };
    worker.on("error", gone);
    worker.on("exit", () => gone(new Error("the background thread ended")));
  }

  /** Sends `message` (none for the start) and resolves with the worker's reply to it. */
  #request(message?: Record<string, unknown>): Promise<Reply> {
    const id = message === undefined ? 0 : this.#nextId++;
    if (this.#exited !== undefined) {
      return Promise.resolve({ id, type: "failed", error: { code: "ERR_DASH_INTERNAL", message: this.#exited.message } });
    }
    const reply = new Promise<Reply>((resolve) => this.#replies.set(id, resolve));
    this.#worker.ref();
    if (message !== undefined) this.#worker.postMessage({ ...message, id });
    return reply;
  }

  /**
   * Starts worker `name` (a file in `dir`) with `data` plus the shared `counters`; resolves once
   * its job's first attempt is answered. A refusal rejects, its message followed by `hint(code)`.
   */
  static async start<Counter extends string>(
    dir: string,
    name: string,
    data: Record<string, unknown>,
    slots: Record<Counter, number>,
    hint: (code: DashErrorCode) => string = () => "",
  ): Promise<BackgroundJob<Counter>> {
    const shared = new SharedArrayBuffer(Object.keys(slots).length * Float64Array.BYTES_PER_ELEMENT);
    const job = new BackgroundJob(spawn(dir, name, { ...data, counters: shared }), new Float64Array(shared), slots);
    const reply = await job.#request();
    if (reply.type === "started" && reply.refused === undefined) return job;
    await job.#worker.terminate();
    const failure = reply.type === "started" ? reply.refused : reply.type === "failed" ? reply.error : undefined;
    const refusal = failure ?? { code: "ERR_DASH_INTERNAL" as const, message: "the background thread did not start" };
    throw toError(refusal, hint(refusal.code));
  }

  stats(): Record<Counter, number> {
    const stats = {} as Record<Counter, number>;
    for (const [name, slot] of Object.entries(this.#slots) as [Counter, number][]) stats[name] = this.#counters[slot] ?? 0;
    return stats;
  }

  /** Look for newly sealed data now; resolves once the pending counts include it. */
  async wake(): Promise<void> {
    await this.#request({ type: "wake" });
  }

  /** Resolves once the job finished with `status`; rejects with its error. Ends the thread either way. */
  async finish(status: string, timeoutMs: number): Promise<void> {
    try {
      const answer = await this.#request({ type: "finish", status, timeoutMs });
      if (answer.type === "failed") throw toError(answer.error);
    } finally {
      await this.#worker.terminate();
    }
  }

  /** Ends the job at once (what it was sending stays pending in the local spool). */
  async terminate(): Promise<void> {
    await this.#worker.terminate();
  }
}
