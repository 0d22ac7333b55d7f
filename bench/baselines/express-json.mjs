// Baseline: the usual Express way — Express 5, `express.json()`, one
// `queue.add`, answer Tencent's OK body.
import { Queue } from "bullmq";
import express from "express";
import { Redis } from "ioredis";

const OK = { ActionStatus: "OK", ErrorCode: 0, ErrorInfo: "" };
const connection = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: null });
const queue = new Queue("callbacks", { connection, prefix: process.env.PREFIX ?? "baseline" });
await queue.waitUntilReady();

const app = express();
app.disable("x-powered-by");
app.post("/v1/tenants/:tenant/tencent", express.json(), async (req, res) => {
  try {
    await queue.add("callback", { tenant: req.params.tenant, query: req.query, body: req.body });
    res.json(OK);
  } catch {
    res.status(503).json({ ActionStatus: "FAIL", ErrorCode: 1, ErrorInfo: "not queued" });
  }
});
const server = app.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  console.log(JSON.stringify({ ready: true, port: server.address().port }));
});
server.keepAliveTimeout = 60_000;
process.on("SIGTERM", () =>
  server.close(async () => {
    await queue.close();
    connection.disconnect();
    process.exit(0);
  }),
);
