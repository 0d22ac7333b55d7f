// Baseline for delivery: POST the same signed bodies the worker sent (as the
// sink captured them) straight to the sink with plain `fetch`, at the same
// concurrency, no queue. Without a capture file it signs bodies of the same
// shape itself. Prints one JSON line: count, ok, failed, elapsedMs.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { Webhook } from "standardwebhooks";

const { SINK_URL, CONCURRENCY = "50", INPUT, COUNT = "10000", SECRET } = process.env;

function synthesize(n) {
  const webhook = new Webhook(SECRET.replace(/^whsec_/, ""));
  const out = [];
  for (let i = 0; i < n; i++) {
    const id = `evt_${randomUUID().replaceAll("-", "")}`;
    const at = new Date(Date.now() + i).toISOString();
    const data = {
      id,
      type: "user.offline",
      tenant: "bench",
      provider: "tencent",
      appId: "1400000000",
      userId: `fetch-u${i}`,
      status: "offline",
      reason: "timeout",
      platform: "android",
      clientIp: "127.0.0.1",
      connectionId: null,
      background: null,
      kickedPlatforms: [],
      customStatus: null,
      occurredAt: at,
      receivedAt: at,
      sequence: 1,
      presence: { online: false, platforms: [] },
      changed: true,
      stale: false,
    };
    const body = JSON.stringify({ type: data.type, timestamp: at, data });
    const date = new Date();
    out.push({
      headers: {
        "content-type": "application/json",
        "webhook-id": id,
        "webhook-timestamp": String(Math.floor(date.getTime() / 1000)),
        "webhook-signature": webhook.sign(id, date, body),
      },
      body,
    });
  }
  return out;
}

const deliveries = INPUT
  ? readFileSync(INPUT, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line))
  : synthesize(Number(COUNT));

let next = 0;
let ok = 0;
let failed = 0;
async function lane() {
  while (next < deliveries.length) {
    const { headers, body } = deliveries[next++];
    try {
      const res = await fetch(SINK_URL, { method: "POST", headers, body });
      await res.arrayBuffer();
      if (res.ok) ok++;
      else failed++;
    } catch {
      failed++;
    }
  }
}

const started = performance.now();
await Promise.all(Array.from({ length: Number(CONCURRENCY) }, lane));
const elapsedMs = performance.now() - started;
console.log(
  JSON.stringify({ count: deliveries.length, ok, failed, elapsedMs, source: INPUT ? "captured" : "synthesized" }),
);
