// Baseline: the least a callback receiver can do with BullMQ — node:http,
// read the body, parse it, one `queue.add`, answer Tencent's OK body.
import { createServer } from "node:http";
import { Queue } from "bullmq";
import { Redis } from "ioredis";

const OK = '{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}';
const FAIL = '{"ActionStatus":"FAIL","ErrorCode":1,"ErrorInfo":"not queued"}';
const connection = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: null });
const queue = new Queue("callbacks", { connection, prefix: process.env.PREFIX ?? "baseline" });
await queue.waitUntilReady();

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", async () => {
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      await queue.add("callback", { url: req.url, body });
      res.writeHead(200, { "content-type": "application/json", "content-length": OK.length });
      res.end(OK);
    } catch {
      res.writeHead(503, { "content-type": "application/json", "content-length": FAIL.length });
      res.end(FAIL);
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  console.log(JSON.stringify({ ready: true, port: server.address().port }));
});
process.on("SIGTERM", () =>
  server.close(async () => {
    await queue.close();
    connection.disconnect();
    process.exit(0);
  }),
);
