import { Webhook } from "standardwebhooks";

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
  const date = new Date(Math.floor(now / 1000) * 1000);
  const secrets = typeof secret === "string" ? [secret] : secret;
  return {
    "content-type": "application/json",
    "user-agent": USER_AGENT,
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(date.getTime() / 1000)),
    "webhook-signature": secrets.map((s) => new Webhook(s).sign(id, date, body)).join(" "),
  };
}
