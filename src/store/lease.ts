/**
 * One writer per experiment across machines: a lease object beside the experiment's data,
 * created with `If-None-Match: *`, renewed and released with `If-Match` on the ETag this writer
 * holds, so two writers can never both believe they hold it. A lease whose holder stopped renewing
 * is taken over once its `expiresAt` has passed (holders' clocks are assumed to agree within a
 * small fraction of the lease's duration), or at once when its holder was a process on this machine
 * that no longer exists.
 */
import { readFileSync, readlinkSync } from "node:fs";
import { hostname } from "node:os";
import { dashError } from "../errors.js";
import { type Bucket, ConditionFailed } from "./bucket.js";

/** The lease's name inside the experiment's prefix. */
export const LEASE_OBJECT = ".dash-ingest.lease";

interface LeaseRecord {
  /** The writing spool's id (see `spool.ts`): tells a returning writer whether it wrote last. */
  spool: string;
  host: string;
  /** Where `pid` means something: see `processSpace`. */
  space?: string;
  pid: number;
  expiresAt: number;
  released?: boolean;
}

function parseRecord(body: Uint8Array): LeaseRecord | undefined {
  try {
    const record = JSON.parse(Buffer.from(body).toString("utf8")) as Partial<LeaseRecord>;
    if (typeof record.spool !== "string" || typeof record.expiresAt !== "number") return undefined;
    return {
      spool: record.spool,
      host: typeof record.host === "string" ? record.host : "?",
      ...(typeof record.space === "string" ? { space: record.space } : {}),
      pid: typeof record.pid === "number" ? record.pid : 0,
      expiresAt: record.expiresAt,
      ...(record.released === true ? { released: true } : {}),
    };
  } catch {
    return undefined; // unreadable: treated as expired (a holder renews it with a readable one)
  }
}

/**
 * The space process ids live in: this boot of this machine and this process's pid namespace (two
 * containers on one host see different processes under one pid). Undefined where it cannot be
 * told (not Linux): a lease is then taken over only once it expires.
 */
function processSpace(): string | undefined {
  try {
    const boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    return `${hostname()}/${boot}/${readlinkSync("/proc/self/ns/pid")}`;
  } catch {
    return undefined;
  }
}

const SPACE = processSpace();

/** Whether the lease's holder was a process in this process space that is gone (killed, crashed). */
function deadHere(record: LeaseRecord): boolean {
  if (SPACE === undefined || record.space !== SPACE || record.pid === process.pid) return false;
  try {
    process.kill(record.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

export class Lease {
  readonly #bucket: Bucket;
  readonly #key: string;
  readonly #spool: string;
  readonly #ttlMs: number;
  #etag: string;
  #expiresAt: number;
  #lost = false;

  private constructor(bucket: Bucket, key: string, spool: string, ttlMs: number, etag: string, expiresAt: number) {
    this.#bucket = bucket;
    this.#key = key;
    this.#spool = spool;
    this.#ttlMs = ttlMs;
    this.#etag = etag;
    this.#expiresAt = expiresAt;
  }

  #record(expiresAt: number, released = false): string {
    const space = SPACE === undefined ? {} : { space: SPACE };
    return JSON.stringify({
      spool: this.#spool,
      host: hostname(),
      ...space,
      pid: process.pid,
      expiresAt,
      ...(released ? { released } : {}),
    });
  }

  /**
   * Takes the lease at `key` for spool `spool`; resolves with it and the spool id of the writer
   * before (undefined if none). Rejects with `ERR_DASH_LOCKED` while another writer holds it.
   */
  static async acquire(
    bucket: Bucket,
    key: string,
    spool: string,
    ttlMs: number,
  ): Promise<{ lease: Lease; previousSpool: string | undefined }> {
    for (;;) {
      const current = await bucket.get(key);
      const record = current === undefined ? undefined : parseRecord(current.body);
      const now = Date.now();
      if (record !== undefined && record.released !== true && record.expiresAt > now && !deadHere(record)) {
        throw dashError(
          "ERR_DASH_LOCKED",
          `${bucket.url()} is being written by ${record.host} (pid ${record.pid}); its lease ${bucket.url(key.slice(bucket.key("").length))} ` +
            `runs until ${new Date(record.expiresAt).toISOString()} unless renewed`,
        );
      }
      const expiresAt = now + ttlMs;
      const lease = new Lease(bucket, key, spool, ttlMs, "", expiresAt);
      try {
        lease.#etag = await bucket.put(
          key,
          lease.#record(expiresAt),
          current === undefined ? { ifNoneMatch: "*" } : { ifMatch: current.etag },
        );
      } catch (error) {
        if (error instanceof ConditionFailed) continue; // another writer moved first: look again
        throw error;
      }
      return { lease, previousSpool: record?.spool };
    }
  }

  /** Whether this writer still holds the lease, with `marginMs` to spare. */
  held(marginMs = 0): boolean {
    return !this.#lost && Date.now() + marginMs < this.#expiresAt;
  }

  get lost(): boolean {
    return this.#lost;
  }

  #renewing: Promise<void> | undefined;

  /**
   * Extends the lease; a failed condition means another writer took it: `lost` from then on. One
   * renewal at a time (two would race on the same ETag and the second would look like a takeover).
   */
  renew(): Promise<void> {
    this.#renewing ??= this.#renew().finally(() => {
      this.#renewing = undefined;
    });
    return this.#renewing;
  }

  async #renew(): Promise<void> {
    if (this.#lost) return;
    const expiresAt = Date.now() + this.#ttlMs;
    try {
      this.#etag = await this.#bucket.put(this.#key, this.#record(expiresAt), { ifMatch: this.#etag });
      this.#expiresAt = expiresAt;
    } catch (error) {
      if (error instanceof ConditionFailed) this.#lost = true;
      else throw error;
    }
  }

  /** Gives the lease up, so the next writer need not wait for it to expire. */
  async release(): Promise<void> {
    await this.#renewing?.catch(() => undefined);
    if (this.#lost) return;
    try {
      this.#etag = await this.#bucket.put(this.#key, this.#record(0, true), { ifMatch: this.#etag });
    } catch (error) {
      if (error instanceof ConditionFailed) this.#lost = true;
      else throw error;
    }
    this.#expiresAt = 0;
  }
}
