/**
 * The bearer token of remote mode, found where the Python SDK finds it, so that one `ml-dash
 * login` serves both: the `token` option, else under `$ML_DASH_CONFIG_DIR` (default `~/.dash`)
 * `tokens.encrypted` (Fernet, with `encryption.key`), then `tokens.json`, each holding
 * `{"ml-dash-token": "…"}`. (The SDK also asks the OS keyring first; Node has no keyring API.)
 */
import { createDecipheriv, createHmac, timingSafeEqual } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { dashError } from "../errors.js";

const KEY = "ml-dash-token";

/** Decrypts a Fernet token (the `cryptography` package's format) with its base64url key. */
export function fernetDecrypt(keyText: string, tokenText: string): Buffer {
  const key = Buffer.from(keyText.trim(), "base64url");
  const token = Buffer.from(tokenText.trim(), "base64url");
  if (key.length !== 32 || token.length < 57 || token[0] !== 0x80) throw new Error("not a Fernet key and token");
  const signed = token.subarray(0, token.length - 32);
  const mac = createHmac("sha256", key.subarray(0, 16)).update(signed).digest();
  if (!timingSafeEqual(mac, token.subarray(token.length - 32))) throw new Error("the key does not match the token");
  const decipher = createDecipheriv("aes-128-cbc", key.subarray(16), token.subarray(9, 25));
  return Buffer.concat([decipher.update(token.subarray(25, token.length - 32)), decipher.final()]);
}

/** The token stored in `configDir`, `undefined` if none is; a store that cannot be read throws. */
export function storedToken(configDir = process.env.ML_DASH_CONFIG_DIR || join(homedir(), ".dash")): string | undefined {
  const read = (file: string, decode: (bytes: Buffer) => Buffer): string | undefined => {
    let tokens: unknown;
    try {
      tokens = JSON.parse(decode(readFileSync(file)).toString("utf8"));
    } catch (error) {
      // Never the contents in a message: they are a secret.
      throw dashError("ERR_DASH_UNAUTHORIZED", `cannot read the token store ${file}: ${(error as Error).name}`);
    }
    const value = (tokens as Record<string, unknown> | null)?.[KEY];
    if (typeof tokens !== "object" || tokens === null || (value !== undefined && typeof value !== "string")) {
      throw dashError("ERR_DASH_UNAUTHORIZED", `cannot read the token store ${file}: unexpected content`);
    }
    return value || undefined;
  };
  const encrypted = join(configDir, "tokens.encrypted");
  if (existsSync(encrypted)) {
    const keyFile = join(configDir, "encryption.key");
    if (!existsSync(keyFile)) throw dashError("ERR_DASH_UNAUTHORIZED", `cannot read ${encrypted}: encryption.key is missing`);
    const value = read(encrypted, (bytes) => fernetDecrypt(readFileSync(keyFile, "utf8"), bytes.toString("latin1")));
    if (value !== undefined) return value;
  }
  const plain = join(configDir, "tokens.json");
  return existsSync(plain) ? read(plain, (bytes) => bytes) : undefined;
}
