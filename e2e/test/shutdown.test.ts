import type { ChildProcess } from "node:child_process";
import { connect } from "node:net";
import { redisKeys } from "@imrelay/store";
import { afterEach, describe, expect, it } from "vitest";
import {
  dropPrefix,
  newPrefix,
  newSecret,
  postTencent,
  type Relay,
  redisClient,
  sleep,
  startPrivateRedis,
  startRelay,
  startSink,
  tencentRequest,
  waitFor,
} from "../src/harness.js";

const secret = newSecret();
const cleanups: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

/** Resolves how the process ended and how long that took from now; SIGKILLs it if it outlives `limitMs`. */
async function exitOf(child: ChildProcess, limitMs: number) {
  const started = Date.now();
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null)
      resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once("exit", (code, sig) => resolve({ code, signal: sig }));
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), limitMs);
  const result = await ended;
  clearTimeout(timer);
  return { ...result, ms: Date.now() - started };
}

/** Signals the process and resolves how it ended and how long that took. */
function signalAndWait(child: ChildProcess, signal: NodeJS.Signals, limitMs: number) {
  const ended = exitOf(child, limitMs);
  child.kill(signal);
  return ended;
}

function tenants(url: string) {
  return { acme: { tencent: { sdkAppId: "1400000000" }, endpoints: [{ id: "presence", url, secret }] } };
}

async function relayWith(config: Record<string, unknown>, options: Partial<Parameters<typeof startRelay>[0]> = {}) {
  const relay = await startRelay({ config, ...options });
  cleanups.push(() => relay.stop("SIGKILL"));
  return relay;
}

const logged = (relay: Relay, text: string) => relay.logs.some((line) => line.includes(text));

describe("SIGTERM with Redis gone", () => {
  it("stops at once when nothing is in flight", async () => {
    const redis = await startPrivateRedis();
    cleanups.push(() => redis.stop());
    const sink = await startSink(secret);
    cleanups.push(() => sink.close());
    const relay = await relayWith(
      { tenants: tenants(sink.url), delivery: { allowPrivateNetworks: true }, shutdownTimeoutMs: 5000 },
      { env: { REDIS_URL: redis.url } },
    );
    expect((await postTencent(relay.url, "acme", tencentRequest({ user: "before" }))).status).toBe(200);
    await waitFor(() => sink.received.length === 1, 10_000, "the delivery");

    await redis.stop();
    await sleep(300);
    const ended = await signalAndWait(relay.child, "SIGTERM", 20_000);
    expect(ended).toMatchObject({ code: 0, signal: null });
    expect(ended.ms).toBeLessThan(3000);
    expect(logged(relay, "shutting down")).toBe(true);
    expect(logged(relay, '"msg":"stopped"')).toBe(true);
  });

  it("stops at once with a delivery in flight, and logs the delivery it left to be taken over", async () => {
    const redis = await startPrivateRedis();
    cleanups.push(() => redis.stop());
    const sink = await startSink(secret, () => ({ status: 200, hang: true }));
    cleanups.push(() => sink.close());
    const relay = await relayWith(
      {
        tenants: tenants(sink.url),
        delivery: { allowPrivateNetworks: true, timeoutMs: 30_000 },
        shutdownTimeoutMs: 5000,
      },
      { env: { REDIS_URL: redis.url } },
    );
    expect((await postTencent(relay.url, "acme", tencentRequest({ user: "stuck" }))).status).toBe(200);
    await waitFor(() => sink.received.length === 1, 10_000, "the delivery to be in flight");

    await redis.stop();
    await sleep(300);
    const ended = await signalAndWait(relay.child, "SIGTERM", 20_000);
    expect(ended).toMatchObject({ code: 0, signal: null });
    expect(ended.ms).toBeLessThan(3000);
    const line = relay.json().find((l) => String(l.msg).startsWith("Redis is unavailable: 1 deliveries in flight"));
    expect(line?.jobIds).toEqual([expect.stringContaining(".presence")]);
  });
});

describe("SIGTERM with Redis hung (it keeps the connection and answers nothing)", () => {
  it("exits within shutdownTimeoutMs with a delivery in flight, and logs the delivery it could not finish", async () => {
    const redis = await startPrivateRedis();
    cleanups.push(() => redis.stop());
    const sink = await startSink(secret, () => ({ status: 200, hang: true }));
    cleanups.push(() => sink.close());
    const relay = await relayWith(
      {
        tenants: tenants(sink.url),
        delivery: { allowPrivateNetworks: true, timeoutMs: 30_000 },
        shutdownTimeoutMs: 3000,
      },
      { env: { REDIS_URL: redis.url } },
    );
    expect((await postTencent(relay.url, "acme", tencentRequest({ user: "stuck" }))).status).toBe(200);
    await waitFor(() => sink.received.length === 1, 10_000, "the delivery to be in flight");

    redis.pause();
    const ended = await signalAndWait(relay.child, "SIGTERM", 20_000);
    expect(ended).toMatchObject({ code: 1, signal: null });
    expect(ended.ms).toBeGreaterThan(2000);
    expect(ended.ms).toBeLessThan(3000 + 1000);
    const line = relay.json().find((l) => String(l.msg).startsWith("shutdown ran out of time"));
    expect(line?.unfinished).toEqual([expect.stringMatching(/^1 deliveries in flight could not be handed back/)]);
  });
});

describe("SIGTERM with a delivery in flight", () => {
  it("hands the delivery back at the deadline, so another worker sends it at once", async () => {
    const prefix = newPrefix();
    const redis = redisClient();
    cleanups.push(async () => {
      await dropPrefix(redis, prefix);
      redis.disconnect();
    });
    // The first request hangs (the stopping worker has it); the next one is the other worker's.
    const sink = await startSink(secret, (n) => (n === 1 ? { status: 200, hang: true } : { status: 200 }));
    cleanups.push(() => sink.close());
    const config = {
      redis: { prefix },
      tenants: tenants(sink.url),
      delivery: { allowPrivateNetworks: true, timeoutMs: 30_000, lockDuration: "30s" },
      shutdownTimeoutMs: 2000,
    };
    const first = await relayWith(config);
    expect((await postTencent(first.url, "acme", tencentRequest({ user: "handed" }))).status).toBe(200);
    await waitFor(() => sink.received.length === 1, 10_000, "the delivery to be in flight");
    await relayWith(config, { command: "worker" });

    const ended = await signalAndWait(first.child, "SIGTERM", 20_000);
    expect(ended).toMatchObject({ code: 1, signal: null });
    expect(ended.ms).toBeLessThan(2000 + 1000);
    expect(logged(first, "handed 1 in-flight deliveries back to the queue")).toBe(true);
    // Well before the 30 s lock would have run out.
    await waitFor(() => sink.received.length === 2, 5000, "the other worker to send it");
    expect(sink.received[1]!.headers["webhook-id"]).toBe(sink.received[0]!.headers["webhook-id"]);
  });

  it("exits at once on a second SIGTERM, saying so, with a non-zero code", async () => {
    const sink = await startSink(secret, () => ({ status: 200, hang: true }));
    cleanups.push(() => sink.close());
    const relay = await relayWith({
      redis: { prefix: newPrefix() },
      tenants: tenants(sink.url),
      delivery: { allowPrivateNetworks: true, timeoutMs: 60_000 },
      shutdownTimeoutMs: 60_000,
    });
    expect((await postTencent(relay.url, "acme", tencentRequest({ user: "slow" }))).status).toBe(200);
    await waitFor(() => sink.received.length === 1, 10_000, "the delivery to be in flight");

    relay.child.kill("SIGTERM");
    await waitFor(() => logged(relay, "shutting down"), 5000, "the shutdown to start");
    await sleep(200);
    expect(relay.child.exitCode).toBeNull();
    const ended = await signalAndWait(relay.child, "SIGTERM", 10_000);
    expect(ended).toMatchObject({ code: 143, signal: null });
    expect(ended.ms).toBeLessThan(1000);
    expect(logged(relay, "second SIGTERM during shutdown: exiting now")).toBe(true);
  });
});

/** Reads HTTP/1.1 responses off one socket until `count` have arrived or the socket ends. */
function readResponses(socket: ReturnType<typeof connect>, count: number) {
  return new Promise<Array<{ status: number; headers: string; body: Record<string, unknown> }>>((resolve, reject) => {
    let buffer = "";
    const out: Array<{ status: number; headers: string; body: Record<string, unknown> }> = [];
    const parse = () => {
      for (;;) {
        const end = buffer.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = buffer.slice(0, end);
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (buffer.length < end + 4 + length) return;
        out.push({
          status: Number(head.split(" ")[1]),
          headers: head.toLowerCase(),
          body: JSON.parse(buffer.slice(end + 4, end + 4 + length)),
        });
        buffer = buffer.slice(end + 4 + length);
        if (out.length === count) resolve(out);
      }
    };
    socket.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("utf8");
      parse();
    });
    socket.on("close", () => resolve(out));
    socket.on("error", reject);
  });
}

describe("SIGTERM to a gateway with a callback in flight", () => {
  it("lets that callback finish with 200, and answers the next one on the connection 503 in Tencent's envelope", async () => {
    const prefix = newPrefix();
    const redis = redisClient();
    cleanups.push(async () => {
      await dropPrefix(redis, prefix);
      redis.disconnect();
    });
    const relay = await relayWith(
      { redis: { prefix }, tenants: { acme: { tencent: { sdkAppId: "1400000000" } } }, shutdownTimeoutMs: 10_000 },
      { command: "gateway" },
    );
    const request = (user: string) => {
      const { query, body } = tencentRequest({ user });
      const head =
        `POST /v1/tenants/acme/tencent?${new URLSearchParams(query)} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
      return { head, body };
    };
    const socket = connect(relay.port, "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    const answers = readResponses(socket, 2);
    const inFlight = request("in-flight");
    socket.write(inFlight.head + inFlight.body.slice(0, 10));
    await sleep(200);

    relay.child.kill("SIGTERM");
    await waitFor(() => logged(relay, "shutting down"), 5000, "the shutdown to start");
    const next = request("too-late");
    // The rest of the first callback, and a second one pipelined behind it on the same connection.
    socket.write(inFlight.body.slice(10) + next.head + next.body);
    const [first, second] = await answers;
    socket.destroy();

    expect(first).toMatchObject({ status: 200, body: { ActionStatus: "OK", ErrorCode: 0 } });
    expect(second).toMatchObject({ status: 503, body: { ActionStatus: "FAIL", ErrorCode: 1 } });
    expect(String(second?.body.ErrorInfo)).toContain("shutting down");
    expect(second?.headers).toContain("connection: close");
    const keys = redisKeys(prefix);
    const events = await redis.xrange(keys.ingest(keys.partitionOf("acme", "in-flight")), "-", "+");
    expect(events.map(([, fields]) => JSON.parse(fields[1]!).userId)).toEqual(["in-flight"]);
    expect(await exitOf(relay.child, 20_000)).toMatchObject({ code: 0, signal: null });
  });
});
