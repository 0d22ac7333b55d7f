// What the delivery baselines send: the bodies the worker sent (as the sink captured them), or
// synthesized ones of the same shape; each is signed as it is sent, Standard Webhooks with
// node:crypto's HMAC, the way the worker signs (apps/worker/src/sign.ts).
import { createHmac, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

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

/**
 * Sends every delivery with `post` (resolves true for a 2xx, false for any other answer) over
 * `concurrency` lanes, each taking the next delivery as soon as its last one is answered.
 */
export async function drive(deliveries, concurrency, post) {
  let next = 0;
  let ok = 0;
  let failed = 0;
  async function lane() {
    while (next < deliveries.length) {
      const delivery = deliveries[next++];
      try {
        if (await post(delivery)) ok++;
        else failed++;
      } catch {
        failed++;
      }
    }
  }
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, lane));
  return { count: deliveries.length, ok, failed, elapsedMs: performance.now() - started };
}
