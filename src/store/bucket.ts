/**
 * An S3-compatible object store as the engine uses it: whole-object and ranged GETs, PUTs with an
 * optional condition (`If-None-Match: *`, `If-Match: <etag>`), deletes and listings under a key
 * prefix. The AWS SDK's client underneath, configured the way the AWS tools are: region, endpoint
 * and credentials from `AWS_REGION`, `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`),
 * `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `AWS_PROFILE` and the shared config files.
 */
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { type DashErrorCode, dashTypeError, describe } from "../errors.js";

/** How long one request may take before it is abandoned (and retried by its caller). */
const REQUEST_TIMEOUT_MS = 30_000;

/** `s3://bucket/prefix`, parsed. */
export interface StoreLocation {
  bucket: string;
  /** The key prefix, without a trailing slash; "" for the bucket's root. */
  root: string;
}

/** Whether a `dashRoot` names an object store. */
export function isStoreUrl(dashRoot: string): boolean {
  return dashRoot.startsWith("s3://");
}

/** Parses `s3://bucket[/prefix]`: a bucket name as S3 allows it, a prefix of plain path parts. */
export function parseStoreUrl(url: string): StoreLocation {
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url);
  const bucket = match?.[1] ?? "";
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `dashRoot: ${describe(url)} is not s3://bucket[/prefix] with a valid bucket name`);
  }
  const root = (match?.[2] ?? "").replace(/\/+$/, "");
  if (root !== "" && !root.split("/").every((part) => part !== "" && part !== "." && part !== ".." && !part.includes("\0"))) {
    throw dashTypeError("ERR_DASH_INVALID_ARGUMENT", `dashRoot: the prefix of ${describe(url)} must be plain path parts`);
  }
  return { bucket, root };
}

/** A request the store did not answer as hoped: `retryable` for connection errors, 5xx, 429 and 503 SlowDown. */
export class StoreError extends Error {
  code: DashErrorCode;
  readonly status: number | undefined;
  retryable: boolean;

  constructor(message: string, status: number | undefined, retryable: boolean, cause?: unknown) {
    super(message, { cause });
    this.status = status;
    this.retryable = retryable;
    this.code = status === 401 || status === 403 ? "ERR_DASH_UNAUTHORIZED" : "ERR_DASH_REMOTE_REFUSED";
  }
}

/** A conditional PUT whose condition did not hold (412, or 409 for a concurrent conditional write). */
export class ConditionFailed extends Error {}

/** An object's listing entry. */
export interface StoredObject {
  key: string;
  size: number;
  etag: string;
}

function statusOf(error: unknown): number | undefined {
  return error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
}

export class Bucket {
  readonly location: StoreLocation;
  readonly #client: S3Client;

  constructor(location: StoreLocation) {
    this.location = location;
    // The SDK warns on Node 20 that its releases from 2027 will need Node 22; the version this
    // package pins supports Node 20, so the warning would only alarm.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
    const endpoint = process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL || undefined;
    this.#client = new S3Client({
      region: process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || "us-east-1",
      ...(endpoint === undefined ? {} : { endpoint, forcePathStyle: true }),
      // Checksums only where a request needs one: S3-compatible stores differ in what they accept.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      // Our callers retry with their own policy (forever while running, to a deadline when finishing);
      // a store that stops answering mid-request must not hold a pass up forever.
      maxAttempts: 1,
      requestHandler: { connectionTimeout: 5_000, requestTimeout: REQUEST_TIMEOUT_MS },
    });
  }

  /** `s3://bucket/<root>/<relative>`'s key. */
  key(relative: string): string {
    return this.location.root === "" ? relative : `${this.location.root}/${relative}`;
  }

  url(relative = ""): string {
    const key = this.key(relative);
    return `s3://${this.location.bucket}/${key}`;
  }

  #fail(what: string, key: string, error: unknown): StoreError {
    const status = statusOf(error);
    const retryable = status === undefined || status >= 500 || status === 429;
    const reason = error instanceof Error ? error.message : String(error);
    return new StoreError(
      `${what} s3://${this.location.bucket}/${key}: ${reason}${status === undefined ? "" : ` (HTTP ${status})`}`,
      status,
      retryable,
      error,
    );
  }

  /** The object's bytes and ETag, or `undefined` when there is none; `range` is `[start, end)`. */
  async get(key: string, range?: [number, number]): Promise<{ body: Uint8Array; etag: string } | undefined> {
    try {
      const answer = await this.#client.send(
        new GetObjectCommand({
          Bucket: this.location.bucket,
          Key: key,
          ...(range === undefined ? {} : { Range: `bytes=${range[0]}-${range[1] - 1}` }),
        }),
      );
      const body = answer.Body === undefined ? new Uint8Array() : await answer.Body.transformToByteArray();
      return { body, etag: answer.ETag ?? "" };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw this.#fail("reading", key, error);
    }
  }

  /**
   * Writes the object; resolves with its new ETag. `ifNoneMatch: "*"` creates it only if absent,
   * `ifMatch` replaces only that version: otherwise `ConditionFailed`.
   */
  async put(key: string, body: Uint8Array | string, condition: { ifNoneMatch?: "*"; ifMatch?: string } = {}): Promise<string> {
    try {
      const answer = await this.#client.send(
        new PutObjectCommand({
          Bucket: this.location.bucket,
          Key: key,
          Body: body,
          ...(condition.ifNoneMatch === undefined ? {} : { IfNoneMatch: condition.ifNoneMatch }),
          ...(condition.ifMatch === undefined ? {} : { IfMatch: condition.ifMatch }),
        }),
      );
      return answer.ETag ?? "";
    } catch (error) {
      const status = statusOf(error);
      const conditional = condition.ifMatch !== undefined || condition.ifNoneMatch !== undefined;
      if (conditional && (status === 412 || status === 409)) throw new ConditionFailed(`s3://${this.location.bucket}/${key} changed`);
      throw this.#fail("writing", key, error);
    }
  }

  /** Deletes the objects (absent ones are no error). */
  async delete(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      try {
        const answer = await this.#client.send(
          new DeleteObjectsCommand({
            Bucket: this.location.bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
        );
        const failed = answer.Errors?.find((e) => e.Code !== "NoSuchKey");
        if (failed !== undefined) throw new Error(`${failed.Key}: ${failed.Code} ${failed.Message ?? ""}`);
      } catch (error) {
        throw this.#fail("deleting under", batch[0] ?? "", error);
      }
    }
  }

  /** Every object whose key starts with `prefix`, in key order. */
  async list(prefix: string): Promise<StoredObject[]> {
    const objects: StoredObject[] = [];
    let token: string | undefined;
    do {
      let answer: ListObjectsV2CommandOutput;
      try {
        answer = await this.#client.send(
          new ListObjectsV2Command({ Bucket: this.location.bucket, Prefix: prefix, ContinuationToken: token }),
        );
      } catch (error) {
        throw this.#fail("listing", prefix, error);
      }
      for (const entry of answer.Contents ?? []) {
        if (entry.Key !== undefined) objects.push({ key: entry.Key, size: entry.Size ?? 0, etag: entry.ETag ?? "" });
      }
      token = answer.IsTruncated ? answer.NextContinuationToken : undefined;
    } while (token !== undefined);
    return objects;
  }

  destroy(): void {
    this.#client.destroy();
  }
}
