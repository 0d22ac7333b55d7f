import type { Provider } from "./event.js";
import { sha256 } from "./hash.js";

/** Anything that can be put in a stable JSON form. */
export type Canonical = null | boolean | number | string | Canonical[] | { [key: string]: Canonical | undefined };

/**
 * JSON with object keys sorted, so two encodings of the same vendor body
 * (whitespace, key order) give the same id.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  // Plain loops: this runs on every callback, and the array helpers allocate at each level.
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) out += (i ? "," : "") + canonicalJson(value[i]);
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  let out = "{";
  let first = true;
  for (const key of keys) {
    const item = record[key];
    if (item === undefined) continue;
    out += `${first ? "" : ","}${JSON.stringify(key)}:${canonicalJson(item)}`;
    first = false;
  }
  return `${out}}`;
}

export interface EventIdInput {
  tenant: string;
  provider: Provider;
  appId: string;
  /** What identifies the vendor callback: its body, and anything the body lacks (e.g. a time). */
  callback: unknown;
}

/**
 * A deterministic event id: `evt_` and 26 base-32 characters (130 bits of
 * SHA-256). The same vendor callback for the same tenant always gives the same
 * id, which is what lets the gateway collapse vendor re-sends and receivers
 * dedupe on `webhook-id`.
 *
 * @example
 * eventId({ tenant: "acme", provider: "tencent", appId: "1400000000", callback: body }) // "evt_…"
 */
export function eventId({ tenant, provider, appId, callback }: EventIdInput): string {
  const digest = sha256(`${tenant}\u0000${provider}\u0000${appId}\u0000${canonicalJson(callback)}`, "buffer");
  return `evt_${base32(digest).slice(0, 26)}`;
}

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"; // Crockford: no i, l, o, u

function base32(bytes: Uint8Array): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}
