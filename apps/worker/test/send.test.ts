import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { BODY_EXCERPT_CHARS, createDeliveryAgent, send } from "../src/index.js";

type Answer = (req: IncomingMessage, res: ServerResponse) => void;

/** What the test server answers, by path. */
const answers = new Map<string, Answer>();
const sockets = new Set<Socket>();
const server = createServer((req, res) => {
  req.resume();
  req.on("end", () => (answers.get(req.url ?? "") ?? ((_, r) => r.end("ok")))(req, res));
});
server.on("connection", (socket) => {
  sockets.add(socket);
  socket.on("close", () => sockets.delete(socket));
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const agent = createDeliveryAgent({ allowPrivateNetworks: true, timeoutMs: 5_000, connections: 2 });

afterAll(async () => {
  await agent.close();
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function post(path: string, { timeoutMs = 5_000 } = {}) {
  return send({
    url: `${origin}${path}`,
    headers: { "content-type": "application/json" },
    body: '{"type":"user.online"}',
    timeoutMs,
    dispatcher: agent,
    allowPrivateNetworks: true,
    now: () => Date.parse("2026-12-01T00:00:00Z"),
  });
}

describe("send", () => {
  it("keeps the start of a large error page, and the next request still goes out", async () => {
    answers.set("/error", (_, res) => {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end("é".repeat(20_000));
    });
    const result = await post("/error");
    expect(result).toMatchObject({ outcome: "5xx", status: 500, errorCode: "HTTP_ERROR" });
    expect(result.bodyExcerpt).toBe("é".repeat(BODY_EXCERPT_CHARS));
    expect(await post("/ok")).toMatchObject({ outcome: "2xx", status: 200, bodyExcerpt: null, errorCode: null });
  });

  it("reads Retry-After of a 503 and a 429, and only of those", async () => {
    answers.set("/busy", (_, res) => res.writeHead(503, { "retry-after": "7" }).end("later"));
    answers.set("/slow-down", (_, res) => res.writeHead(429, { "retry-after": "Tue, 01 Dec 2026 00:00:30 GMT" }).end());
    answers.set("/teapot", (_, res) => res.writeHead(418, { "retry-after": "7" }).end());
    expect(await post("/busy")).toMatchObject({ outcome: "5xx", retryAfterMs: 7_000, bodyExcerpt: "later" });
    expect(await post("/slow-down")).toMatchObject({ outcome: "4xx", retryAfterMs: 30_000, bodyExcerpt: "" });
    expect((await post("/teapot")).retryAfterMs).toBeUndefined();
  });

  it("counts a 2xx as delivered whatever its body does: past 1 MiB, or cut off halfway", async () => {
    answers.set("/huge", (_, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      res.end(Buffer.alloc(3 * 1024 * 1024, 1));
    });
    answers.set("/cut", (_, res) => {
      res.writeHead(200, { "content-length": "1000" });
      res.write("partial");
      setTimeout(() => res.socket?.destroy(), 20);
    });
    expect(await post("/huge")).toMatchObject({ outcome: "2xx", status: 200 });
    expect(await post("/cut")).toMatchObject({ outcome: "2xx", status: 200 });
  });

  it("waits past an informational 103 for the real answer, and keeps the connection", async () => {
    let connections = 0;
    const count = () => connections++;
    server.on("connection", count);
    answers.set("/hints", (_, res) => {
      res.writeEarlyHints({ link: "</style.css>; rel=preload; as=style" });
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("x".repeat(10_000));
    });
    answers.set("/hints-then-nothing", (_, res) => {
      res.writeEarlyHints({ link: "</style.css>; rel=preload; as=style" });
      setTimeout(() => res.socket?.destroy(), 20);
    });
    // Warm: the connection the next ones should reuse.
    await post("/ok");
    await post("/ok");
    const before = connections;
    expect(await post("/hints")).toMatchObject({ outcome: "2xx", status: 200 });
    expect(await post("/ok")).toMatchObject({ outcome: "2xx" });
    expect(connections).toBe(before);
    const cut = await post("/hints-then-nothing");
    expect(cut).toMatchObject({ outcome: "error", status: null });
    expect(cut.errorCode).not.toBe("HTTP_ERROR");
    server.off("connection", count);
  });

  it("says timeout when no headers come within timeoutMs, and names the system error of a refused connection", async () => {
    answers.set("/never", () => {});
    expect(await post("/never", { timeoutMs: 200 })).toMatchObject({
      outcome: "timeout",
      status: null,
      errorCode: "TIMEOUT",
    });
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refused = await send({
      url: `http://127.0.0.1:${port}/`,
      headers: {},
      body: "{}",
      timeoutMs: 1_000,
      dispatcher: agent,
      allowPrivateNetworks: true,
      now: Date.now,
    });
    expect(refused).toMatchObject({ outcome: "error", status: null, errorCode: "ECONNREFUSED" });
  });

  it("refuses a private address literal before any request when private networks are not allowed", async () => {
    let asked = 0;
    answers.set("/guarded", (_, res) => {
      asked++;
      res.end();
    });
    const result = await send({
      url: `${origin}/guarded`,
      headers: {},
      body: "{}",
      timeoutMs: 1_000,
      dispatcher: agent,
      allowPrivateNetworks: false,
      now: Date.now,
    });
    expect(result).toMatchObject({ outcome: "refused", errorCode: "DESTINATION_REFUSED" });
    expect(result.refusal).toMatch(/127\.0\.0\.1/);
    expect(asked).toBe(0);
  });
});
