import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";

/**
 * A worker run on its own has no gateway to serve its metrics; with
 * `imrelay worker --port <n>` it answers `/metrics` and `/healthz` itself.
 */
export async function startWorkerHttp(registry: Registry, host: string, port: number) {
  const server: Server = createServer(async (req, res) => {
    if (req.method === "GET" && req.url === "/metrics") {
      res.writeHead(200, { "content-type": registry.contentType }).end(await registry.metrics());
    } else if (req.method === "GET" && req.url === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
    } else {
      res
        .writeHead(404, { "content-type": "application/json" })
        .end('{"error":{"code":"NOT_FOUND","message":"a worker serves only /metrics and /healthz"}}');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
