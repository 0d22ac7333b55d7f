// Raw HTTP ceiling for delivery: the same bodies, signed as they go (node:crypto), POSTed to the
// sink with an undici request loop at the same concurrency; no queue, no Redis.
// Prints one JSON line: count, ok, failed, elapsedMs.
import { Agent, request } from "undici";
import { drive, loadBodies, signer } from "./deliveries.mjs";

const { SINK_URL, CONCURRENCY = "50", SECRET } = process.env;
const deliveries = loadBodies(process.env);
const sign = signer(SECRET);
const dispatcher = new Agent({ connections: Number(CONCURRENCY) });

const result = await drive(deliveries, Number(CONCURRENCY), async ({ id, body }) => {
  const res = await request(SINK_URL, { method: "POST", headers: sign(id, body), body, dispatcher });
  await res.body.dump();
  return res.statusCode >= 200 && res.statusCode < 300;
});
await dispatcher.close();
console.log(JSON.stringify(result));
