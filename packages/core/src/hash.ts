import * as crypto from "node:crypto";

// One-shot crypto.hash (Node 20.12+) skips the Hash object, which shows on the callback path; older Nodes take the long way.
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: "hex" | "buffer") => string | Buffer })
  .hash;

/**
 * SHA-256 of a UTF-8 string, as bytes or lower-case hex.
 *
 * @example
 * sha256("abc", "hex"); // "ba7816bf…"
 */
export function sha256(text: string, encoding: "hex"): string;
export function sha256(text: string, encoding: "buffer"): Uint8Array;
export function sha256(text: string, encoding: "hex" | "buffer"): string | Uint8Array {
  if (oneShot) return oneShot("sha256", text, encoding);
  const hash = crypto.createHash("sha256").update(text);
  return encoding === "hex" ? hash.digest("hex") : hash.digest();
}
