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

type Reply = { type: "started"; refused?: Failure; unreachable?: string } | { type: "finished" } | { type: "failed"; error: Failure };

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
  #replies: ((reply: Reply) => void)[] = [];
  #exited: Error | undefined;

  private constructor(worker: Worker, counters: Float64Array, url: string) {
    this.#worker = worker;
    this.#counters = counters;
    this.url = url;
    worker.on("message", (reply: Reply) => this.#replies.shift()?.(reply));
    const gone = (error: Error) => {
      this.#exited = error;
      for (const waiting of this.#replies.splice(0))
        waiting({ type: "failed", error: { code: "ERR_DASH_INTERNAL", message: error.message } });
    };
    worker.on("error", gone);
    worker.on("exit", () => gone(new Error("the uploader's thread ended")));
  }

  #reply(): Promise<Reply> {
    if (this.#exited !== undefined) {
      return Promise.resolve({ type: "failed", error: { code: "ERR_DASH_INTERNAL", message: this.#exited.message } });
    }
    return new Promise((resolve) => this.#replies.push(resolve));
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
    const reply = await session.#reply();
    session.#worker.unref();
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

  /** Look for newly sealed data now. */
  wake(): void {
    if (this.#exited === undefined) this.#worker.postMessage({ type: "wake" });
  }

  /**
   * Resolves once everything is on the server and `status` is set there; rejects with
   * `ERR_DASH_REMOTE_TIMEOUT` (what is pending stays in the local spool) or the server's refusal.
   * Ends the uploader's thread either way.
   */
  async finish(status: string, timeoutMs: number): Promise<void> {
    this.#worker.ref();
    try {
      const reply = this.#reply();
      this.#worker.postMessage({ type: "finish", status, timeoutMs });
      const answer = await reply;
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
