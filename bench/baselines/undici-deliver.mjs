// Raw HTTP ceiling for delivery: the same bodies, signed as they go (node:crypto), POSTed to the
// sink with an undici request loop at the same concurrency; no queue, no Redis.
// Prints one JSON line: count, ok, failed, elapsedMs.
import { performance } from "node:perf_hooks";
import { Agent, request } from "undici";
import { loadBodies, signer } from "./deliveries.mjs";

const { SINK_URL, CONCURRENCY = "50", SECRET } = process.env;
const deliveries = loadBodies(process.env);
const sign = signer(SECRET);
const dispatcher = new Agent({ connections: Number(CONCURRENCY) });

let next = 0;
let ok = 0;
let failed = 0;
async function lane() {
  while (next < deliveries.length) {
    const { id, body } = deliveries[next++];
    try {
      const res = await request(SINK_URL, { method: "POST", headers: sign(id, body), body, dispatcher });
      await res.body.dump();
      if (res.statusCode >= 200 && res.statusCode < 300) ok++;
      else failed++;
    } catch {
      failed++;
    }
  }
}

const started = performance.now();
await Promise.all(Array.from({ length: Number(CONCURRENCY) }, lane));
const elapsedMs = performance.now() - started;
await dispatcher.close();
console.log(JSON.stringify({ count: deliveries.length, ok, failed, elapsedMs }));
