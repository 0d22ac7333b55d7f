import { createHmac } from "node:crypto";
import { configMemo } from "./config-memo.js";

/** The headers of one signed delivery attempt. */
export interface SignedHeaders {
  "content-type": "application/json";
  "user-agent": string;
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
  [name: string]: string;
}

export const USER_AGENT = "imrelay/0.1";

/**
 * One Standard Webhooks signature: `v1,` and the base64 HMAC-SHA256, keyed
 * with the secret's base64 after `whsec_`, of `id.timestamp.body`. This is what
 * the `standardwebhooks` package's `sign` gives, byte for byte (the tests hold
 * it to that); node:crypto's HMAC does it in a quarter of the CPU of that
 * package's pure-JS SHA-256, which counts at thousands of deliveries a second
 * and twice over while a secret rotates.
 */
function signature(secret: string, prefix: string, body: string): string {
  return `v1,${createHmac("sha256", keyOf(secret)).update(prefix).update(body).digest("base64")}`;
}

/** Secrets come from the config: each is decoded once, not once per delivery. */
const keyOf = configMemo((secret) => Buffer.from(secret.startsWith("whsec_") ? secret.slice(6) : secret, "base64"));

/**
 * Signs a body per the Standard Webhooks spec with the endpoint's `whsec_`
 * secret, or with each of its secrets while one rotates: the header then
 * holds one `v1,` signature per secret, space-separated, and a receiver that
 * knows either secret verifies it. The timestamp is the attempt's, so each
 * retry is signed afresh and passes the receiver's freshness check; the id
 * stays the event id, which is what receivers dedupe on.
 *
 * @example
 * const headers = signedHeaders({ id: event.id, body, secret: [newSecret, oldSecret], now: Date.now() });
 * new Webhook(oldSecret).verify(body, headers); // a receiver that has not switched yet
 */
export function signedHeaders({
  id,
  body,
  secret,
  now,
}: {
  id: string;
  body: string;
  secret: string | readonly string[];
  now: number;
}): SignedHeaders {
  const timestamp = String(Math.floor(now / 1000));
  // Hashed as two parts: `id.timestamp.` + body as one string would copy every body once more.
  const prefix = `${id}.${timestamp}.`;
  const secrets = typeof secret === "string" ? [secret] : secret;
  return {
    "content-type": "application/json",
    "user-agent": USER_AGENT,
    "webhook-id": id,
    "webhook-timestamp": timestamp,
    "webhook-signature": secrets.map((s) => signature(s, prefix, body)).join(" "),
  };
}
