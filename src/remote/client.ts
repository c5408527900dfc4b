/**
 * The HTTP half of remote mode: requests to an ML-Dash server exactly as the Python SDK sends them
 * (`../shared` contract: REST under `<dashUrl>/api`, GraphQL at `<dashUrl>/graphql`, a bearer
 * token, JSON bodies), with the retry policy of the uploader. Node's own `fetch` (keep-alive, TLS).
 */
import { dashError, type DashError } from "../errors.js";

/** A failed request: `retryable` for connection errors, 5xx and 429 (with the server's `Retry-After`). */
export class RemoteError extends Error {
  readonly code: DashError["code"];
  readonly status: number | undefined;
  readonly retryable: boolean;
  /** The server's `Retry-After`, in milliseconds. */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: { status?: number; retryable: boolean; retryAfterMs?: number; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
    this.retryable = options.retryable;
    this.retryAfterMs = options.retryAfterMs;
    this.code = options.status === 401 || options.status === 403 ? "ERR_DASH_UNAUTHORIZED" : "ERR_DASH_REMOTE_REFUSED";
  }
}

/** `Retry-After`: seconds or an HTTP date. */
function retryAfter(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** How `parseLossless` keeps an integer too long for a double: a string with this mark before its digits. */
const BIG = "\u0000#";

/**
 * JSON whose integers too long for a double (19-digit ids) stay exact (see `idOf`): the SDK keeps
 * ids as Python ints; a client in JS must not round them.
 */
export function parseLossless(text: string): unknown {
  let out = "";
  let last = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) {
      inString = true;
      continue;
    }
    if ((c >= 0x30 && c <= 0x39) || c === 0x2d) {
      let end = i + 1;
      while (end < text.length && /[0-9.eE+-]/.test(text[end] as string)) end++;
      const token = text.slice(i, end);
      if (/^-?\d{16,}$/.test(token)) {
        out += `${text.slice(last, i)}"\\u0000#${token}"`;
        last = end;
      }
      i = end - 1;
    }
  }
  return JSON.parse(out + text.slice(last));
}

/**
 * A server's id as it sent it: a JSON string, or a number (kept exact, as its digits). It goes
 * back the same way, as the SDK sends back the ints it got: in paths and form fields as its text,
 * in JSON bodies (`jsonBody`) as a string or a bare number.
 */
export class Id {
  constructor(
    readonly text: string,
    readonly numeric: boolean,
  ) {}

  toString(): string {
    return this.text;
  }
}

/** An id from a response (a non-empty string or an integer), `undefined` otherwise. */
export function idOf(value: unknown): Id | undefined {
  if (typeof value === "string" && value.startsWith(BIG)) return new Id(value.slice(BIG.length), true);
  if (typeof value === "string" && value.length > 0) return new Id(value, false);
  if (typeof value === "number" && Number.isSafeInteger(value)) return new Id(String(value), true);
  return undefined;
}

/** JSON text of a request body, with each `Id` as the server sent it. */
export function jsonBody(value: unknown): string {
  const text = JSON.stringify(value, (_key, v: unknown) => (v instanceof Id ? (v.numeric ? `${BIG}${v.text}` : v.text) : v));
  return text.replace(/"\\u0000#(-?\d+)"/g, "$1");
}

/** A path segment encoded as Python's `urllib.parse.quote(s, safe="")` does. */
export function quote(segment: string): string {
  return encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export interface RemoteRequest {
  method: "GET" | "POST" | "PATCH";
  /** Under `/api` (`/experiments/…`), or `/graphql`. */
  path: string;
  body?: Buffer | string;
  contentType?: string;
}

/** Seconds a request may take before it counts as a connection failure (the SDK's is 30). */
const REQUEST_TIMEOUT_MS = 30_000;

export class RemoteClient {
  readonly url: string;
  readonly #token: string | undefined;
  /** Requests sent, and those that failed and were retried. */
  requests = 0;

  /** Without a `token` no `Authorization` is sent (the server says whether it needs one). */
  constructor(url: string, token: string | undefined) {
    this.url = url.replace(/\/+$/, "");
    this.#token = token;
  }

  /** Sends one request; resolves with the response's JSON (every 2xx of the contract is JSON). */
  async send(request: RemoteRequest): Promise<unknown> {
    const target = request.path === "/graphql" ? `${this.url}/graphql` : `${this.url}/api${request.path}`;
    this.requests++;
    let response: Response;
    try {
      response = await fetch(target, {
        method: request.method,
        headers: {
          ...(this.#token === undefined ? {} : { Authorization: `Bearer ${this.#token}` }),
          "User-Agent": "dash-ingest",
          ...(request.body === undefined ? {} : { "Content-Type": request.contentType ?? "application/json" }),
        },
        ...(request.body === undefined
          ? {}
          : {
              body:
                typeof request.body === "string"
                  ? request.body
                  : (new Uint8Array(request.body.buffer, request.body.byteOffset, request.body.byteLength) as Uint8Array<ArrayBuffer>),
            }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      const reason = error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error);
      throw new RemoteError(`${request.method} ${target}: ${reason}`, { retryable: true, cause: error });
    }
    const text = await response.text().catch(() => "");
    if (!response.ok) {
      const status = response.status;
      throw new RemoteError(`${request.method} ${target}: HTTP ${status} ${text.slice(0, 300)}`.trim(), {
        status,
        retryable: status >= 500 || status === 429,
        ...(status === 429 || status === 503 ? { retryAfterMs: retryAfter(response.headers.get("retry-after")) } : {}),
      });
    }
    try {
      return parseLossless(text);
    } catch {
      // The SDK fails such a write and keeps its data; so do we (the server may be a proxy's page).
      throw new RemoteError(`${request.method} ${target}: the ${response.status} answer is not JSON`, { retryable: true });
    }
  }

  /** A GraphQL query; its `errors` are a refusal. Resolves with `data` (an object). */
  async graphql(query: string, variables: Record<string, unknown>): Promise<Record<string, unknown>> {
    const reply = (await this.send({ method: "POST", path: "/graphql", body: jsonBody({ query, variables }) })) as {
      data?: Record<string, unknown> | null;
      errors?: { message?: string }[];
    } | null;
    if (Array.isArray(reply?.errors) && reply.errors.length > 0) {
      throw new RemoteError(`GraphQL: ${reply.errors.map((e) => e?.message).join("; ")}`, { retryable: false });
    }
    return reply?.data ?? {};
  }
}

/** Backoff between attempts: 100 ms doubling to 10 s, with jitter, at least the server's `Retry-After`. */
export function backoffMs(attempt: number, error?: { retryAfterMs?: number | undefined }): number {
  const base = Math.min(10_000, 100 * 2 ** Math.min(attempt, 10));
  return Math.max(error?.retryAfterMs ?? 0, base / 2 + Math.random() * (base / 2));
}

/** A refusal (not retried): the error a caller sees, with the server's words. */
export function refused(what: string, error: RemoteError): Error & DashError {
  return Object.assign(dashError(error.code, `${what}: ${error.message}`), { status: error.status });
}
