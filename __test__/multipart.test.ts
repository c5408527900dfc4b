/**
 * The server's multipart parser (file uploads): what an encoder writes comes back part for part,
 * and no bytes make it throw (seeded property tests, shrinking failures).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { multipart } from "../src/multipart.js";

const BOUNDARY = "----dashBoundary7MA4YWxkTrZu0gW";

function encode(parts: { name: string; filename?: string; data: Uint8Array }[]): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const file = part.filename === undefined ? "" : `; filename="${part.filename}"`;
    chunks.push(Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${part.name}"${file}\r\n\r\n`));
    chunks.push(Buffer.from(part.data), Buffer.from("\r\n"));
  }
  chunks.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return Buffer.concat(chunks);
}

const token = fc.stringMatching(/^[A-Za-z0-9_.-]{1,12}$/);

describe("multipart bodies", () => {
  it("parse back what was encoded, whatever the bytes of each part (CRLF, dashes, binary)", () => {
    const part = fc.record({
      name: token,
      filename: fc.option(token, { nil: undefined }),
      data: fc.uint8Array({ maxLength: 200 }),
    });
    fc.assert(
      fc.property(fc.uniqueArray(part, { selector: (p) => p.name, maxLength: 6 }), (parts) => {
        const parsed = multipart(encode(parts), `multipart/form-data; boundary=${BOUNDARY}`);
        expect(parsed).toBeDefined();
        expect([...(parsed?.keys() ?? [])]).toEqual(parts.map((p) => p.name));
        for (const p of parts) {
          expect(Buffer.from(parsed?.get(p.name)?.data ?? [])).toEqual(Buffer.from(p.data));
          expect(parsed?.get(p.name)?.filename).toBe(p.filename);
        }
      }),
      { seed: 20261201, numRuns: 300 },
    );
  });

  it("never throw on arbitrary bytes, truncations or a wrong boundary", () => {
    const sample = encode([{ name: "file", filename: "a.jpg", data: Uint8Array.of(1, 2, 3) }]);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(sample.length), fc.boolean(), (noise, cut, wrong) => {
        const body = Buffer.concat([sample.subarray(0, cut), Buffer.from(noise)]);
        const result = multipart(body, wrong ? "multipart/form-data; boundary=x" : `multipart/form-data; boundary=${BOUNDARY}`);
        expect(result === undefined || result instanceof Map).toBe(true);
      }),
      { seed: 7, numRuns: 1000 },
    );
    expect(multipart(sample, "multipart/form-data")).toBeUndefined();
  });
});
