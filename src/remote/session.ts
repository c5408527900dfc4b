/**
 * Remote mode as an experiment sees it: the uploader running on its own thread (see
 * `worker.ts`), its counters read from shared memory, `finish` awaited when the experiment ends.
 */
import { extname, join } from "node:path";
import { Worker } from "node:worker_threads";
import { dashError, type DashErrorCode } from "../errors.js";
import { COUNTER, COUNTER_SLOTS, type UploadTarget } from "./uploader.js";

/** Upload counters in `stats()`. */
export type RemoteStats = Record<keyof typeof COUNTER, number>;

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

/** The worker's file beside this one; from the TypeScript sources (tests), run through tsx. */
function spawn(data: unknown): Worker {
  const file = join(__dirname, `worker${extname(__filename)}`);
  const execArgv = extname(__filename) === ".ts" ? ["--require", require.resolve("tsx/cjs")] : [];
  return new Worker(file, { workerData: data, execArgv });
}

function toError(failure: Failure, hint = ""): Error {
  return Object.assign(
    dashError(failure.code, `${failure.message}${hint}`),
    failure.status === undefined ? {} : { status: failure.status },
  );
}

export class RemoteSession {
  readonly #worker: Worker;
  readonly #counters: Float64Array;
  readonly url: string;
  /** Who waits for the reply to each request (request 0 is the start). */
  readonly #replies = new Map<number, (reply: Reply) => void>();
  #nextId = 1;
  #exited: Error | undefined;

  private constructor(worker: Worker, counters: Float64Array, url: string) {
    this.#worker = worker;
    this.#counters = counters;
    this.url = url;
    worker.on("message", (reply: Reply) => {
      this.#replies.get(reply.id)?.(reply);
      this.#replies.delete(reply.id);
      // Only a reply someone awaits keeps the process alive (an unfinished run may exit: its data
      // stays in the spool).
      if (this.#replies.size === 0) worker.unref();
    });
    const gone = (error: Error) => {
      this.#exited = error;
      for (const [id, waiting] of this.#replies)
        waiting({ id, type: "failed", error: { code: "ERR_DASH_INTERNAL", message: error.message } });
      this.#replies.clear();
    };
    worker.on("error", gone);
    worker.on("exit", () => gone(new Error("the uploader's thread ended")));
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
   * Starts uploading the experiment directory `target.dir`; resolves once the server answered the
   * first attempt to open the experiment there, or could not be reached (the uploader then keeps
   * trying: appends go on meanwhile). Rejects when the server refuses (`ERR_DASH_UNAUTHORIZED` for
   * a wrong or missing token).
   */
  static async start(target: UploadTarget, tokenSource: string): Promise<RemoteSession> {
    const shared = new SharedArrayBuffer(COUNTER_SLOTS * Float64Array.BYTES_PER_ELEMENT);
    const session = new RemoteSession(spawn({ target, counters: shared }), new Float64Array(shared), target.url);
    const reply = await session.#request();
    if (reply.type === "started" && reply.refused === undefined) return session;
    await session.#worker.terminate();
    const failure = reply.type === "started" ? reply.refused : reply.type === "failed" ? reply.error : undefined;
    const hint = failure?.code === "ERR_DASH_UNAUTHORIZED" ? ` (the token came from ${tokenSource})` : "";
    throw toError(failure ?? { code: "ERR_DASH_INTERNAL", message: "the uploader did not start" }, hint);
  }

  stats(): RemoteStats {
    const stats = {} as RemoteStats;
    for (const [name, slot] of Object.entries(COUNTER)) stats[name as keyof RemoteStats] = this.#counters[slot] ?? 0;
    return stats;
  }

  /** Look for newly sealed data now; resolves once the pending counts include it. */
  async wake(): Promise<void> {
    await this.#request({ type: "wake" });
  }

  /**
   * Resolves once everything is on the server and `status` is set there; rejects with
   * `ERR_DASH_REMOTE_TIMEOUT` (what is pending stays in the local spool) or the server's refusal.
   * Ends the uploader's thread either way.
   */
  async finish(status: string, timeoutMs: number): Promise<void> {
    try {
      const answer = await this.#request({ type: "finish", status, timeoutMs });
      if (answer.type === "failed") throw toError(answer.error);
    } finally {
      await this.#worker.terminate();
    }
  }

  /** Ends the uploader at once (what it was sending stays pending in the spool). */
  async terminate(): Promise<void> {
    await this.#worker.terminate();
  }
}
