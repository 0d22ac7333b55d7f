import type { AddressInfo, Socket } from "node:net";
import { gzipSync } from "node:zlib";
import type { ImrelayConfigInput } from "@imrelay/config";
import { redisKeys } from "@imrelay/store";
import { Registry } from "prom-client";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createGatewayHttpServer } from "../src/http/http-server.js";
import { type RunningGateway, startGateway } from "../src/run-gateway.js";
import { createServer } from "../src/server.js";
import { dropPrefix, fixture, memoryLogger, metricValue, newPrefix, newRedis, testConfig } from "./helpers.js";
import { answerOf, openSocket, type RawAnswer, rawRequest } from "./raw-http.js";

const prefix = newPrefix();
const redis = newRedis();
const ADMIN_TOKEN = "admin-token-0123456789abcdef";
const TENCENT_PATH = "/v1/tenants/acme/tencent?SdkAppid=1400000000&CallbackCommand=State.StateChange&OptPlatform=IOS";
const OPENIM_PATH = "/v1/tenants/acme/openim/callbackAfterUserOnlineCommand";

const running: RunningGateway[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(running.splice(0).map((gateway) => gateway.close()));
});

afterAll(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

/** A real gateway (`startGateway`, the server `imrelay gateway` runs) with its HTTP limits set for the test. */
async function gatewayWith(gateway: NonNullable<ImrelayConfigInput["gateway"]>) {
  const config = testConfig(
    {
      tenants: { acme: { tencent: { sdkAppId: "1400000000" }, openim: { appId: "acme-openim" } } },
      gateway: { host: "127.0.0.1", port: 0, ...gateway },
      admin: { token: ADMIN_TOKEN },
    },
    prefix,
  );
  const log = memoryLogger();
  const registry = new Registry();
  const started = await startGateway({ config, logger: log.logger, registry });
  running.push(started);
  return { port: started.port, base: `http://127.0.0.1:${started.port}`, log, registry };
}

/** The head of a POST with a JSON body of `length` bytes, none of the body sent. */
function postHead(path: string, length: number, extra = "") {
  return `POST ${path} HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n${extra}\r\n`;
}

function openimCallback(userID: string) {
  return JSON.stringify({ ...JSON.parse(fixture("openim-online.json")), userID, seq: Date.now() });
}

describe("the gateway's timeouts", () => {
  it("answers a callback whose body trickles in 408 in Tencent's envelope, within requestTimeoutMs, and closes", async () => {
    const gw = await gatewayWith({ requestTimeoutMs: 1000 });
    const answer = await rawRequest(gw.port, `${postHead(TENCENT_PATH, 500)}{"Callback`, 100);
    expect(answer.status).toBe(408);
    expect(answer.json).toEqual({
      ActionStatus: "FAIL",
      ErrorCode: 1,
      ErrorInfo: "the request body did not arrive within 1000 ms",
    });
    expect(answer.headers.connection).toBe("close");
    expect(answer.closedAfterMs).toBeGreaterThanOrEqual(900);
    expect(answer.closedAfterMs).toBeLessThan(2500);
    expect(await metricValue(gw.registry, "imrelay_callbacks_total", { outcome: "request_timeout" })).toBe(1);
    expect(await metricValue(gw.registry, "imrelay_http_refusals_total", { code: "request_timeout" })).toBe(1);
    expect(gw.log.json().find((line) => line.msg === "callback refused")).toMatchObject({
      outcome: "request_timeout",
      status: 408,
    });
  });

  it("answers a slow OpenIM callback 408 in OpenIM's envelope", async () => {
    const gw = await gatewayWith({ requestTimeoutMs: 1000 });
    const answer = await rawRequest(gw.port, `${postHead(OPENIM_PATH, 300)}{"userID"`);
    expect(answer.status).toBe(408);
    expect(answer.json).toEqual({
      actionCode: 1,
      errCode: 408,
      errMsg: "the request body did not arrive within 1000 ms",
      errDlt: "REQUEST_TIMEOUT",
      nextCode: 0,
    });
  });

  it("answers a request whose headers never finish 408 with a JSON error, within the headers timeout", async () => {
    const gw = await gatewayWith({ requestTimeoutMs: 2000, headersTimeoutMs: 800 });
    const answer = await rawRequest(
      gw.port,
      "POST /v1/tenants/acme/tencent HTTP/1.1\r\nHost: gateway\r\nX-Slow: ",
      100,
    );
    expect(answer.status).toBe(408);
    expect(answer.json).toEqual({
      error: { code: "REQUEST_TIMEOUT", message: "the request headers did not arrive within 800 ms" },
    });
    expect(answer.closedAfterMs).toBeLessThan(1800);
  });

  it("answers a slow body on an admin route 408 with a JSON error", async () => {
    const gw = await gatewayWith({ requestTimeoutMs: 1000 });
    const head = postHead("/v1/tenants/acme/presence/query", 200, `Authorization: Bearer ${ADMIN_TOKEN}\r\n`);
    const answer = await rawRequest(gw.port, `${head}{"userIds":`);
    expect(answer.status).toBe(408);
    expect(answer.json).toEqual({
      error: { code: "REQUEST_TIMEOUT", message: "the request body did not arrive within 1000 ms" },
    });
  });

  it("closes an idle keep-alive connection after keepAliveTimeoutMs", async () => {
    const gw = await gatewayWith({ keepAliveTimeoutMs: 300 });
    const socket = await openSocket(gw.port);
    sockets.push(socket);
    const started = Date.now();
    const answer = answerOf(socket, started);
    socket.write("GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n");
    const { status, closedAfterMs } = await answer;
    expect(status).toBe(200);
    // Node closes 1 s after the advertised timeout, so a client never reuses a connection as it closes.
    expect(closedAfterMs).toBeGreaterThanOrEqual(250);
    expect(closedAfterMs).toBeLessThan(2500);
  });

  it("answers callbacks fast while 2,000 idle connections are open, and closes those at the headers timeout", {
    timeout: 60_000,
  }, async () => {
    const gw = await gatewayWith({ requestTimeoutMs: 4000 });
    // In batches, so the listen backlog never overflows into SYN retries.
    const idle: Promise<RawAnswer>[] = [];
    for (let batch = 0; batch < 10; batch++) {
      const started = Date.now();
      const opened = await Promise.all(Array.from({ length: 200 }, () => openSocket(gw.port)));
      sockets.push(...opened);
      idle.push(...opened.map((socket) => answerOf(socket, started)));
    }

    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const started = Date.now();
      const res = await fetch(`${gw.base}${OPENIM_PATH}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: openimCallback(`idle-${i}`),
      });
      expect(res.status).toBe(200);
      await res.text();
      latencies.push(Date.now() - started);
    }
    expect(Math.max(...latencies)).toBeLessThan(1000);

    const closed = await Promise.all(idle);
    expect(closed).toHaveLength(2000);
    for (const answer of closed) {
      expect(answer.status).toBe(408);
      expect(answer.closedAfterMs).toBeGreaterThanOrEqual(3900);
      // Late by at most the check beat plus writing 2,000 answers on a busy machine; Node's default is 60 s.
      expect(answer.closedAfterMs).toBeLessThan(9000);
    }
    expect(closed[0]?.json).toEqual({
      error: { code: "REQUEST_TIMEOUT", message: "the request headers did not arrive within 4000 ms" },
    });
  });
});

describe("the connection cap", () => {
  it("drops connections over maxConnections, logs it once per burst, and serves again once some close", async () => {
    const gw = await gatewayWith({ maxConnections: 5 });
    const held = await Promise.all(Array.from({ length: 5 }, () => openSocket(gw.port)));
    sockets.push(...held);
    for (let i = 0; i < 3; i++) {
      const over = await openSocket(gw.port);
      sockets.push(over);
      const answer = await answerOf(over);
      expect(answer.text).toBe("");
    }
    const warnings = gw.log.json().filter((line) => String(line.msg).startsWith("connection limit of"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40, maxConnections: 5 });
    expect(await metricValue(gw.registry, "imrelay_connections_dropped_total", {})).toBe(3);

    for (const socket of held) socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await fetch(`${gw.base}/healthz`)).status).toBe(200);
  });
});

describe("the connection cap's log", () => {
  it("says once when a burst starts and once, with the count, when it is over", async () => {
    const config = testConfig(
      { tenants: { acme: { openim: { appId: "acme-openim" } } }, gateway: { maxConnections: 1 } },
      prefix,
    );
    const log = memoryLogger();
    const listener = createServer({
      config,
      redis,
      keys: redisKeys(prefix),
      logger: log.logger,
      registry: new Registry(),
    });
    const server = createGatewayHttpServer(listener, {
      gateway: config.gateway,
      logger: log.logger,
      burstQuietMs: 200,
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    try {
      sockets.push(await openSocket(port));
      const burst = async (size: number) => {
        for (let i = 0; i < size; i++) {
          const over = await openSocket(port);
          sockets.push(over);
          await answerOf(over);
        }
      };
      await burst(4);
      await new Promise((resolve) => setTimeout(resolve, 400));
      await burst(2);
      await new Promise((resolve) => setTimeout(resolve, 400));
      const lines = log
        .json()
        .filter((line) => String(line.msg).startsWith("connection limit"))
        .map((line) => line.msg);
      expect(lines).toEqual([
        "connection limit of 1 reached: new connections are dropped until some close (gateway.maxConnections)",
        "connection limit burst over: 4 connections were dropped",
        "connection limit of 1 reached: new connections are dropped until some close (gateway.maxConnections)",
        "connection limit burst over: 2 connections were dropped",
      ]);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe("what Node refuses before a route runs", () => {
  const bigHeader = `X-Padding: ${"a".repeat(20_000)}\r\n`;

  it("answers oversized headers on a Tencent URL 431 in Tencent's envelope", async () => {
    const gw = await gatewayWith({});
    const answer = await rawRequest(gw.port, postHead(TENCENT_PATH, 2, bigHeader));
    expect(answer.status).toBe(431);
    expect(answer.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(answer.json).toEqual({
      ActionStatus: "FAIL",
      ErrorCode: 1,
      ErrorInfo: "the request headers are over the 16384-byte limit",
    });
    expect(await metricValue(gw.registry, "imrelay_http_refusals_total", { code: "headers_too_large" })).toBe(1);
  });

  it("answers oversized headers on an OpenIM URL 431 in OpenIM's envelope", async () => {
    const gw = await gatewayWith({});
    const answer = await rawRequest(gw.port, postHead(OPENIM_PATH, 2, bigHeader));
    expect(answer.status).toBe(431);
    expect(answer.json).toEqual({
      actionCode: 1,
      errCode: 431,
      errMsg: "the request headers are over the 16384-byte limit",
      errDlt: "HEADERS_TOO_LARGE",
      nextCode: 0,
    });
  });

  it("answers oversized headers elsewhere 431 with a JSON error", async () => {
    const gw = await gatewayWith({});
    const answer = await rawRequest(gw.port, `GET /healthz HTTP/1.1\r\nHost: gateway\r\n${bigHeader}\r\n`);
    expect(answer.status).toBe(431);
    expect(answer.json).toEqual({
      error: { code: "HEADERS_TOO_LARGE", message: "the request headers are over the 16384-byte limit" },
    });
  });

  it("answers a malformed header on a Tencent URL 400 in Tencent's envelope", async () => {
    const gw = await gatewayWith({});
    const answer = await rawRequest(gw.port, `POST ${TENCENT_PATH} HTTP/1.1\r\nHost gateway\r\n\r\n`);
    expect(answer.status).toBe(400);
    expect(answer.json).toEqual({
      ActionStatus: "FAIL",
      ErrorCode: 1,
      ErrorInfo: "the request is not valid HTTP: Invalid header token",
    });
  });

  it("answers bytes that are not HTTP 400 with a JSON error", async () => {
    const gw = await gatewayWith({});
    const answer = await rawRequest(gw.port, "HELLO\r\n\r\n");
    expect(answer.status).toBe(400);
    expect(answer.json).toEqual({
      error: { code: "MALFORMED_HTTP", message: expect.stringMatching(/^the request is not valid HTTP: \w/) },
    });
    expect(await metricValue(gw.registry, "imrelay_http_refusals_total", { code: "malformed_http" })).toBe(1);
  });

  it("answers a broken chunked body on an OpenIM URL 400 in OpenIM's envelope", async () => {
    const gw = await gatewayWith({});
    const head = `POST ${OPENIM_PATH} HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
    const answer = await rawRequest(gw.port, `${head}5\r\n{"use\r\nzz\r\n`);
    expect(answer.status).toBe(400);
    expect(answer.json).toMatchObject({ actionCode: 1, errCode: 400, errDlt: "MALFORMED_HTTP" });
    expect(await metricValue(gw.registry, "imrelay_callbacks_total", { outcome: "malformed_http" })).toBe(1);
  });
});

describe("absurd but authentic input", () => {
  it("takes a gzip-compressed callback and answers OK", async () => {
    const gw = await gatewayWith({});
    const res = await fetch(`${gw.base}${OPENIM_PATH}`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-encoding": "gzip" },
      body: gzipSync(openimCallback("gzipped")),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ actionCode: 0 });
  });

  it("answers a content encoding it does not decode 415 in Tencent's envelope", async () => {
    const gw = await gatewayWith({});
    const res = await fetch(`${gw.base}${TENCENT_PATH}`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-encoding": "zstd" },
      body: fixture("tencent-login.json"),
    });
    expect(res.status).toBe(415);
    expect(await res.json()).toEqual({
      ActionStatus: "FAIL",
      ErrorCode: 1,
      ErrorInfo: "content-encoding zstd is not supported; send gzip, deflate, br or none",
    });
  });

  it("answers a gzip bomb 413 in OpenIM's envelope", async () => {
    const gw = await gatewayWith({});
    const res = await fetch(`${gw.base}${OPENIM_PATH}`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-encoding": "gzip" },
      body: gzipSync(Buffer.alloc(20 * 1024 * 1024, 0x20)),
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ errCode: 413, errDlt: "PAYLOAD_TOO_LARGE" });
  });

  it("answers a 40,000-character user id 400 without echoing it", async () => {
    const gw = await gatewayWith({});
    const userId = "x".repeat(40_000);
    const body = JSON.stringify({
      ...JSON.parse(fixture("tencent-login.json")),
      Info: { Action: "Login", To_Account: userId },
    });
    const res = await fetch(`${gw.base}${TENCENT_PATH}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      ActionStatus: "FAIL",
      ErrorCode: 1,
      ErrorInfo: "Info.To_Account is longer than 256 characters",
    });
  });
});
