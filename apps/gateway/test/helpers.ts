import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { type AddressInfo, createServer as createNetServer } from "node:net";
import { type ImrelayConfig, type ImrelayConfigInput, parseConfig } from "@imrelay/config";
import { type AdapterEvent, eventId, type ImrelayEvent, isoTime, type Platform, type Provider } from "@imrelay/core";
import { allPartitions, joinEventJson, type RedisClient, type RedisKeys, redisKeys } from "@imrelay/store";
import { Redis } from "ioredis";
import pino from "pino";
import { Registry } from "prom-client";
import { createIngestRedis } from "../src/redis.js";
import { createServer, type GatewayDeps } from "../src/server.js";

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

export const newPrefix = () => `test-${randomUUID()}`;

export function fixture(name: string): string {
  return readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");
}

export function fixtureJson<T = Record<string, unknown>>(name: string): T {
  return JSON.parse(fixture(name)) as T;
}

export function testConfig(input: Partial<ImrelayConfigInput> & Pick<ImrelayConfigInput, "tenants">, prefix: string) {
  return parseConfig({ ...input, redis: { url: REDIS_URL, prefix } }, "test config", {});
}

/** Deletes every key under a prefix. */
export async function dropPrefix(redis: RedisClient, prefix: string) {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== "0");
}

/** Stream entry ids in order: milliseconds, then sequence. */
const byEntryId = ([a]: [string, string[]], [b]: [string, string[]]) => {
  const [ams, aseq] = a.split("-").map(Number);
  const [bms, bseq] = b.split("-").map(Number);
  return ams! - bms! || aseq! - bseq!;
};

/** The events on every partition's ingest stream, oldest first, with their raw field when present. */
export async function streamEvents(
  redis: RedisClient,
  keys: RedisKeys,
): Promise<Array<ImrelayEvent & { _raw?: unknown }>> {
  const entries = (await Promise.all(allPartitions(keys).map((p) => redis.xrange(keys.ingest(p), "-", "+"))))
    .flat()
    .sort(byEntryId);
  return entries.map(([, fields]) => {
    const map = new Map<string, string>();
    for (let i = 0; i < fields.length; i += 2) map.set(fields[i]!, fields[i + 1]!);
    const event = JSON.parse(joinEventJson(map.get("e")!, map.get("g"))) as ImrelayEvent & { _raw?: unknown };
    if (map.has("r")) event._raw = JSON.parse(map.get("r")!);
    return event;
  });
}

/** A pino logger that keeps its lines in memory, so tests can read what was logged. */
export function memoryLogger() {
  const lines: string[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => lines.push(line) });
  return { logger, lines, json: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** A clock tests move by hand. */
export function fakeClock(start: number) {
  let now = start;
  const clock = () => now;
  clock.set = (ms: number) => {
    now = ms;
  };
  clock.advance = (ms: number) => {
    now += ms;
  };
  return clock;
}

export interface TestGateway {
  url: string;
  config: ImrelayConfig;
  keys: RedisKeys;
  redis: RedisClient;
  registry: Registry;
  log: ReturnType<typeof memoryLogger>;
  close(): Promise<void>;
}

/** `createServer` on a loopback port 0 with a fresh fail-fast Redis connection. */
export async function startTestGateway(config: ImrelayConfig, extra: Partial<GatewayDeps> = {}): Promise<TestGateway> {
  const redis = extra.redis ?? createIngestRedis(config.redis);
  redis.on("error", () => {});
  if (redis.status !== "ready") await new Promise((r) => redis.once("ready", r));
  const keys = redisKeys(config.redis.prefix, config.redis.partitions);
  const registry = extra.registry ?? new Registry();
  const log = memoryLogger();
  const app = createServer({ config, redis, keys, logger: log.logger, registry, ...extra });
  const server = await new Promise<import("node:http").Server>((resolve) => {
    const s = createHttpServer(app).listen(0, "127.0.0.1", () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    config,
    keys,
    redis,
    registry,
    log,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      redis.disconnect();
    },
  };
}

let counter = 0;

/** An adapter event as an adapter would give it, for driving the ingest script directly. */
export function adapterEvent(input: {
  tenant: string;
  userId: string;
  provider: Provider;
  status?: "online" | "offline";
  type?: AdapterEvent["type"];
  reason?: AdapterEvent["reason"];
  platform: Platform;
  at: number;
  kicked?: Platform[];
  id?: string;
}): AdapterEvent {
  const status = input.status;
  const type = input.type ?? (status === "online" ? "user.online" : "user.offline");
  return {
    id:
      input.id ??
      eventId({
        tenant: input.tenant,
        provider: input.provider,
        appId: "app",
        callback: { n: counter++, r: randomUUID() },
      }),
    type,
    tenant: input.tenant,
    provider: input.provider,
    appId: "app",
    userId: input.userId,
    ...(status ? { status } : {}),
    reason: input.reason ?? (status === "online" ? "login" : status === "offline" ? "disconnect" : "custom_status"),
    platform: input.platform,
    clientIp: null,
    connectionId: null,
    background: null,
    kickedPlatforms: input.kicked ?? [],
    customStatus: null,
    occurredAt: isoTime(input.at),
    receivedAt: isoTime(input.at + 5),
  };
}

export function newRedis() {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  return redis;
}

/** The value of one counter series, 0 when it was never incremented. */
export async function metricValue(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  const found = values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val));
  return found?.value ?? 0;
}

/** POSTs a JSON (or any) body and returns the status and the parsed answer. */
export async function post(
  url: string,
  body: string,
  headers: Record<string, string> = { "content-type": "application/json" },
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(url, { method: "POST", headers, body });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Record<string, unknown>, headers: res.headers };
}

/** A free loopback port (nothing listens on it once this resolves). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

export interface PrivateRedis {
  url: string;
  port: number;
  /** SIGKILL: Redis is gone, connections are refused. */
  stop(): Promise<void>;
  /** SIGSTOP / SIGCONT: Redis is there but answers nothing, like a hung host. */
  pause(): void;
  resume(): void;
}

/** A redis-server of a test's own on `port` (default: a free one), to stop and pause in fault tests. */
export async function startPrivateRedis(port?: number): Promise<PrivateRedis> {
  const p = port ?? (await freePort());
  const child = spawn(
    "redis-server",
    ["--port", String(p), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    {
      stdio: "ignore",
    },
  );
  const url = `redis://127.0.0.1:${p}`;
  const probe = createIngestRedis(url);
  probe.on("error", () => {}); // refused until the server is up: that is what the loop waits for
  try {
    let up = false;
    for (let i = 0; i < 100 && !up; i++) {
      up = (await probe.ping().catch(() => "")) === "PONG";
      if (!up) await new Promise((r) => setTimeout(r, 50));
    }
    if (!up) throw new Error("redis-server did not start");
  } finally {
    probe.disconnect();
  }
  return {
    url,
    port: p,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGCONT");
        child.kill("SIGKILL");
      }),
    pause: () => child.kill("SIGSTOP"),
    resume: () => child.kill("SIGCONT"),
  };
}

/** The expiry set of a user's partition, where the ingest script scores that user's renewing platforms. */
export function expiryKey(keys: RedisKeys, tenant: string, userId: string): string {
  return keys.expiry(keys.partitionOf(tenant, userId));
}
