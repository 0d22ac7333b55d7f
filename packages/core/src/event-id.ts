import { createHash } from "node:crypto";
import type { Provider } from "./event.js";

/** Anything that can be put in a stable JSON form. */
export type Canonical = null | boolean | number | string | Canonical[] | { [key: string]: Canonical | undefined };

/**
 * JSON with object keys sorted, so two encodings of the same vendor body
 * (whitespace, key order) give the same id.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
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
  const digest = createHash("sha256")
    .update(`${tenant}\u0000${provider}\u0000${appId}\u0000${canonicalJson(callback)}`)
    .digest();
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
