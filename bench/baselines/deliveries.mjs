// What the delivery baselines send: the bodies the worker sent (as the sink captured them), or
// synthesized ones of the same shape; each is signed as it is sent, Standard Webhooks with
// node:crypto's HMAC, the way the worker signs (apps/worker/src/sign.ts).
import { createHmac, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";

export function loadBodies({ INPUT, COUNT = "10000" }) {
  if (INPUT) {
    return readFileSync(INPUT, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        const { headers, body } = JSON.parse(line);
        return { id: headers["webhook-id"], body };
      });
  }
  return Array.from({ length: Number(COUNT) }, (_, i) => {
    const id = `evt_${randomUUID().replaceAll("-", "")}`;
    const at = new Date(Date.now() + i).toISOString();
    const data = { id, type: "user.offline", tenant: "bench", userId: `u${i}`, occurredAt: at, receivedAt: at };
    return { id, body: JSON.stringify({ type: data.type, timestamp: at, data }) };
  });
}

/** Headers of one signed delivery; the key is decoded once, as the worker caches it. */
export function signer(secret) {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  return (id, body) => {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64");
    return {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": timestamp,
      "webhook-signature": `v1,${signature}`,
    };
  };
}
