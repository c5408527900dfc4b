/**
 * The publisher of an experiment written to an object store (`dashRoot: "s3://…"`), on its own
 * thread: it holds the experiment's lease, and every `POLL_MS` publishes what the engine sealed in
 * the local spool (see `sync.ts` for the order that keeps readers consistent).
 *
 * At the start it takes the lease (`ERR_DASH_LOCKED` while another writer holds it). If the store
 * holds the experiment and the last writer was not this spool, the store is the newer copy: a
 * local directory left from before is moved aside (to `<spoolRoot>/.superseded/`, said in a
 * warning) and the experiment is fetched from the store, so the run continues where the store is.
 *
 * Store errors are retried with backoff, forever while the run goes on and until the deadline once
 * finishing; the lease is renewed every third of its duration, and no manifest is written unless
 * the lease is held with a margin to spare.
 */
import { randomUUID } from "node:crypto";
import { mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Job } from "../background.js";
import { dashError } from "../errors.js";
import { backoffMs } from "../remote/client.js";
import { Bucket, parseStoreUrl, StoreError } from "./bucket.js";
import { Lease, LEASE_OBJECT } from "./lease.js";
import { Publisher, StoreCopy } from "./sync.js";

/** What to publish, and where. */
export interface StoreTarget {
  /** The `s3://bucket/prefix` root. */
  url: string;
  /** The experiment's prefix under it. */
  prefix: string;
  /** The local spool's root (the experiment's directory is `<spool>/<prefix>`). */
  spool: string;
  /** Where a superseded local copy goes. */
  superseded: string;
  leaseMs: number;
  /** How long `start()` retries a store that fails or does not answer (at most `START_PATIENCE_MS`). */
  patienceMs: number;
}

/** Counters the publisher keeps in shared memory (`stats().publish`). */
export const STORE_COUNTER = {
  objectsPublished: 0,
  bytesPublished: 1,
  objectsPending: 2,
  publishRetries: 3,
} as const;

const POLL_MS = 500;
/** How long `start()` retries a store that fails or does not answer before it gives up. */
const START_PATIENCE_MS = 15_000;
const SPOOL_ID = ".dash-ingest.spool-id";

/** The manifests' guard: past it, the lease must be renewed before a manifest is written. */
class LeaseExpiring extends Error {}

export class StoreJob implements Job {
  readonly #target: StoreTarget;
  readonly #counters: Float64Array;
  readonly #bucket: Bucket;
  readonly #prefix: string;
  readonly #dir: string;
  #lease: Lease | undefined;
  /** The spool of the writer before this one (from the lease this one took). */
  #previousSpool: string | undefined;
  #publisher: Publisher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #renewal: NodeJS.Timeout | undefined;
  #wakeUp: (() => void) | undefined;
  #wokenDuringPass = false;
  #stopped = false;
  /** Once finishing: passes send everything changed at once (see `Publisher.publish`). */
  #finishing = false;
  /** The loop of passes, until `#stopped`. */
  #running: Promise<void> | undefined;
  /** A pass that ended with nothing pending, and when it started. */
  #cleanSince = -1;
  #problem: Error | undefined;

  constructor(target: StoreTarget, counters: Float64Array) {
    this.#target = target;
    this.#counters = counters;
    const location = parseStoreUrl(target.url);
    this.#bucket = new Bucket(location);
    this.#prefix = this.#bucket.key(`${target.prefix}/`);
    this.#dir = join(target.spool, target.prefix);
  }

  async #spoolId(): Promise<string> {
    const path = join(this.#dir, SPOOL_ID);
    const known = await readFile(path, "utf8").catch(() => undefined);
    if (known !== undefined && known.length > 0) return known;
    const id = randomUUID();
    await mkdir(this.#dir, { recursive: true });
    await writeFile(path, id);
    return id;
  }

  /** Takes the lease and prepares the spool; store errors worth retrying are retried for `START_PATIENCE_MS`. */
  async start(): Promise<StoreError | undefined> {
    const patience = Math.min(START_PATIENCE_MS, this.#target.patienceMs);
    const deadline = Date.now() + patience;
    for (let attempt = 0; ; attempt++) {
      const failure = await this.#begin();
      if (failure === undefined) break;
      if (!failure.retryable || Date.now() > deadline) {
        await this.#lease?.release().catch(() => undefined);
        this.#bucket.destroy();
        if (!failure.retryable) return failure;
        const message = `the store did not answer within ${patience / 1000} s: ${failure.message}`;
        return Object.assign(failure, { retryable: false, code: "ERR_DASH_REMOTE_TIMEOUT", message });
      }
      await new Promise((resolve) => setTimeout(resolve, backoffMs(attempt)));
    }
    this.#running = this.#run();
    void this.#keepLease();
    return undefined;
  }

  async #begin(): Promise<StoreError | undefined> {
    try {
      const spool = await this.#spoolId();
      // Taken once: a retry after a later step failed keeps it (asking again would find it held).
      if (this.#lease === undefined) {
        const taken = await Lease.acquire(this.#bucket, this.#prefix + LEASE_OBJECT, spool, this.#target.leaseMs);
        this.#lease = taken.lease;
        this.#previousSpool = taken.previousSpool;
      }
      const lease = this.#lease;
      const previousSpool = this.#previousSpool;
      const stored = (await this.#bucket.list(this.#prefix)).some((o) => o.key !== this.#prefix + LEASE_OBJECT);
      if (stored && previousSpool !== spool) await this.#takeFromStore(spool);
      this.#publisher = new Publisher(this.#bucket, this.#dir, this.#prefix, () => {
        if (!lease.held(Math.min(5000, this.#target.leaseMs / 4))) throw new LeaseExpiring();
      });
      await this.#publisher.learn();
      return undefined;
    } catch (error) {
      if (error instanceof StoreError) return error;
      this.#bucket.destroy();
      throw error;
    }
  }

  /** The store is newer than the spool: set the spool's copy aside and continue from the store's. */
  async #takeFromStore(spool: string): Promise<void> {
    const local = (await readdir(this.#dir).catch(() => [])).filter((name) => name !== SPOOL_ID);
    if (local.length > 0) {
      await mkdir(this.#target.superseded, { recursive: true });
      const aside = join(this.#target.superseded, `${this.#target.prefix.replaceAll("/", "__")}-${Date.now()}`);
      await rename(this.#dir, aside);
      process.emitWarning(
        `dash-ingest: ${this.#bucket.url(this.#target.prefix)} was written by another writer since this spool last published it; ` +
          `the local copy is kept in ${aside} and the run continues from the store's`,
      );
      await mkdir(this.#dir, { recursive: true });
      await writeFile(join(this.#dir, SPOOL_ID), spool);
    }
    await new StoreCopy(this.#bucket, this.#prefix, this.#dir).refresh({ segments: true, mirror: false });
  }

  /** Renews the lease every third of its duration, apart from the passes (a long one cannot let it lapse). */
  async #keepLease(): Promise<void> {
    const lease = this.#lease as Lease;
    while (!this.#stopped && !lease.lost) {
      await new Promise((resolve) => {
        this.#renewal = setTimeout(resolve, this.#target.leaseMs / 3);
      });
      // The store away: tried again next time; meanwhile no manifest is written without `held`.
      if (!this.#stopped) await lease.renew().catch(() => undefined);
    }
  }

  /** The loop: a pass every `POLL_MS` (or at once when woken). */
  async #run(): Promise<void> {
    const lease = this.#lease as Lease;
    const publisher = this.#publisher as Publisher;
    let attempt = 0;
    while (!this.#stopped) {
      const started = Date.now();
      try {
        if (lease.lost) {
          throw dashError(
            "ERR_DASH_LOCKED",
            `another writer took ${this.#bucket.url(this.#target.prefix)} over (the lease lapsed); publishing stopped`,
          );
        }
        const counts = await publisher.publish(this.#finishing);
        this.#counters[STORE_COUNTER.objectsPublished] = (this.#counters[STORE_COUNTER.objectsPublished] ?? 0) + counts.objects;
        this.#counters[STORE_COUNTER.bytesPublished] = (this.#counters[STORE_COUNTER.bytesPublished] ?? 0) + counts.bytes;
        this.#counters[STORE_COUNTER.objectsPending] = counts.pending;
        this.#cleanSince = counts.pending === 0 ? started : -1;
        this.#problem = undefined;
        attempt = 0;
        await this.#sleep(POLL_MS);
      } catch (caught) {
        let error = caught;
        if (error instanceof LeaseExpiring) {
          // Renew now (a store away throws: retried below), then publish again.
          error = await lease.renew().then(
            () => undefined,
            (failure: unknown) => failure,
          );
          if (error === undefined) continue;
        }
        this.#problem = error as Error;
        this.#cleanSince = -1;
        await this.count().catch(() => undefined);
        if ((error as { code?: string }).code === "ERR_DASH_LOCKED") return;
        this.#counters[STORE_COUNTER.publishRetries] = (this.#counters[STORE_COUNTER.publishRetries] ?? 0) + 1;
        await this.#sleep(error instanceof StoreError && !error.retryable ? 30_000 : backoffMs(attempt++));
      }
    }
  }

  /** Waits `ms`, or less if woken; a wake that came during a pass ends the next wait at once. */
  #sleep(ms: number): Promise<void> {
    if (this.#wokenDuringPass) {
      this.#wokenDuringPass = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.#wakeUp = () => {
        this.#wakeUp = undefined;
        resolve();
      };
      this.#timer = setTimeout(this.#wakeUp, ms);
    });
  }

  async count(): Promise<void> {
    if (this.#publisher !== undefined) this.#counters[STORE_COUNTER.objectsPending] = await this.#publisher.pending();
  }

  wake(): void {
    clearTimeout(this.#timer);
    if (this.#wakeUp === undefined) this.#wokenDuringPass = true;
    else this.#wakeUp();
  }

  /** Resolves once a pass begun after the call leaves nothing pending, then gives the lease up. */
  async finish(_status: string | undefined, timeoutMs: number): Promise<void> {
    const asked = Date.now();
    const deadline = asked + timeoutMs;
    this.#finishing = true;
    this.wake();
    try {
      while (this.#cleanSince < asked) {
        if ((this.#problem as { code?: string } | undefined)?.code === "ERR_DASH_LOCKED") throw this.#problem;
        if (Date.now() > deadline) {
          const pending = this.#counters[STORE_COUNTER.objectsPending] ?? 0;
          throw dashError(
            "ERR_DASH_REMOTE_TIMEOUT",
            `publishing to ${this.#bucket.url(this.#target.prefix)} did not finish within ${timeoutMs / 1000} s ` +
              `(${this.#problem?.message ?? "the store did not answer in time"}); ${pending} file(s) pending stay in the local spool ` +
              `${this.#dir} and are published when this experiment is started again from it`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      this.#stopped = true;
      this.wake();
      await this.#running;
      // Segments no manifest names go now; if the store refuses, the next writer's passes do it.
      await (this.#publisher as Publisher).sweep(true).catch(() => undefined);
      // A lease not given up (the store down just now) expires by itself: nothing is lost.
      await (this.#lease as Lease).release().catch(() => undefined);
    } finally {
      this.#stopped = true;
      this.wake();
      clearTimeout(this.#renewal);
      this.#bucket.destroy();
    }
  }
}
