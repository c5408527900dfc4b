/**
 * `multipart/form-data` bodies (RFC 7578), as the ML-Dash SDK uploads files: each part's name,
 * file name if any, and bytes (a view of the body, not a copy).
 */

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
