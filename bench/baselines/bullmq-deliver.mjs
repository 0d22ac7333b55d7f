// Queue ceiling for delivery: bare BullMQ doing the relay's queue work and nothing else. One
// process adds a job per body with addBulk in batches of 100 (as a dispatcher would) while one
// Worker at the same concurrency signs each (node:crypto) and POSTs it with undici.
// Prints one JSON line: count, ok, failed, elapsedMs.
import { performance } from "node:perf_hooks";
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { Agent, request } from "undici";
import { loadBodies, signer } from "./deliveries.mjs";

const { SINK_URL, CONCURRENCY = "50", SECRET, REDIS_URL, PREFIX = "baseline-q" } = process.env;
const deliveries = loadBodies(process.env);
const sign = signer(SECRET);
const dispatcher = new Agent({ connections: Number(CONCURRENCY) });
const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
const queue = new Queue("deliveries", { connection, prefix: PREFIX });

let ok = 0;
let failed = 0;
let resolveDone;
const done = new Promise((resolve) => {
  resolveDone = resolve;
});
const settle = () => ok + failed === deliveries.length && resolveDone();

const started = performance.now();
const worker = new Worker(
  "deliveries",
  async (job) => {
    const { id, body } = job.data;
    const res = await request(SINK_URL, { method: "POST", headers: sign(id, body), body, dispatcher });
    await res.body.dump();
    if (res.statusCode < 200 || res.statusCode >= 300) throw new Error(`HTTP ${res.statusCode}`);
    return res.statusCode;
  },
  { connection, prefix: PREFIX, concurrency: Number(CONCURRENCY) },
);
worker.on("completed", () => {
  ok++;
  settle();
});
worker.on("failed", () => {
  failed++;
  settle();
});

const options = {
  attempts: 4,
  backoff: { type: "exponential", delay: 1000 },
  removeOnComplete: { age: 3600, count: 10_000 },
};
for (let i = 0; i < deliveries.length; i += 100) {
  await queue.addBulk(
    deliveries
      .slice(i, i + 100)
      .map((d) => ({ name: "deliver", data: d, opts: { ...options, jobId: `${d.id}.sink` } })),
  );
}
await done;
const elapsedMs = performance.now() - started;
await worker.close();
await queue.close();
await dispatcher.close();
connection.disconnect();
console.log(JSON.stringify({ count: deliveries.length, ok, failed, elapsedMs }));
