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
 * secret. The timestamp is the attempt's, so each retry is signed afresh and
 * passes the receiver's freshness check; the id stays the event id, which is
 * what receivers dedupe on.
 *
 * @example
 * const headers = signedHeaders({ id: event.id, body, secret: endpoint.secret, now: Date.now() });
 * new Webhook(endpoint.secret).verify(body, headers); // a receiver's check
 */
export function signedHeaders({
  id,
  body,
  secret,
  now,
}: {
  id: string;
  body: string;
  secret: string;
  now: number;
}): SignedHeaders {
  const date = new Date(Math.floor(now / 1000) * 1000);
  return {
    "content-type": "application/json",
    "user-agent": USER_AGENT,
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(date.getTime() / 1000)),
    "webhook-signature": new Webhook(secret).sign(id, date, body),
  };
}
