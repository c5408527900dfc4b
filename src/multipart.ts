/**
 * `multipart/form-data` bodies (RFC 7578), as the ML-Dash SDK uploads files: each part's name,
 * file name if any, and bytes (a view of the body, not a copy); and building such a body to send.
 */

import { randomBytes } from "node:crypto";

export interface Part {
  filename?: string;
  data: Buffer;
}

/**
 * The parts of `body` by name, or `undefined` if it is not a well-formed multipart body with the
 * boundary of `contentType`. Never throws, whatever the bytes.
 */
export function multipart(body: Buffer, contentType: string): Map<string, Part> | undefined {
  const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const name = boundary?.[1] ?? boundary?.[2];
  if (name === undefined) return undefined;
  const delimiter = Buffer.from(`--${name}`);
  const parts = new Map<string, Part>();
  let at = body.indexOf(delimiter);
  if (at === -1) return undefined;
  for (;;) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString("latin1") === "--") return parts; // the closing boundary
    if (body.subarray(start, start + 2).toString("latin1") !== "\r\n") return undefined;
    const next = body.indexOf(delimiter, start);
    if (next === -1 || next < start + 4) return undefined; // no closing boundary, or no CRLF before it
    const part = body.subarray(start + 2, next - 2);
    const headerEnd = part.indexOf("\r\n\r\n");
    if (headerEnd === -1) return undefined;
    const headers = part.subarray(0, headerEnd).toString("utf8");
    const field = /(?:^|[;\s])name="([^"]*)"/i.exec(headers)?.[1];
    const filename = /filename="([^"]*)"/i.exec(headers)?.[1];
    if (field !== undefined) parts.set(field, { ...(filename === undefined ? {} : { filename }), data: part.subarray(headerEnd + 4) });
    at = next;
  }
}

/** A file part to send: its name, content type and bytes. */
export interface FilePart {
  filename: string;
  contentType: string;
  data: Buffer;
}

/** Quotes a header parameter as browsers and httpx do (`"` and line breaks percent-encoded). */
function quoted(value: string): string {
  return `"${value.replace(/[\r\n"]/g, (c) => encodeURIComponent(c))}"`;
}

/**
 * A `multipart/form-data` body of text `fields` then the file part `file` (named `field`), as the
 * ML-Dash SDK sends an upload; returns the body and its content type.
 */
export function formData(fields: Record<string, string>, field: string, file: FilePart): { body: Buffer; contentType: string } {
  const boundary = `dash-ingest-${randomBytes(16).toString("hex")}`;
  const chunks: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name=${quoted(name)}\r\n\r\n${value}\r\n`));
  }
  chunks.push(
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name=${quoted(field)}; filename=${quoted(file.filename)}\r\n` +
        `Content-Type: ${file.contentType}\r\n\r\n`,
    ),
    file.data,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  );
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}
