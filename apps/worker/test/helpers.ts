import { randomUUID } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type ImrelayConfig, parseConfig } from "@imrelay/config";
import { ImrelayEvent } from "@imrelay/core";
import {
  allPartitions,
  createBatchQueues,
  createDeliveryQueues,
  type DeliveryJobState,
  findDelivered,
  type RedisKeys,
  redisKeys,
} from "@imrelay/store";
import type { Job, Queue } from "bullmq";
import { Redis } from "ioredis";
import { type Logger, pino } from "pino";
import { afterAll, afterEach } from "vitest";

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
export const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/** A fresh key prefix for one test file; each harness gets its own prefix under it. */
export function testPrefix(): string {
  return `test-${randomUUID()}`;
}

let counter = 0;

/** A valid delivered event, as the gateway writes it to the stream. */
export function makeEvent(overrides: Partial<ImrelayEvent> = {}): ImrelayEvent {
  counter += 1;
  const at = new Date(Date.now() - 1000).toISOString();
  return ImrelayEvent.parse({
    id: `evt_${randomUUID().replaceAll("-", "").slice(0, 20)}${counter}`,
    type: "user.online",
    tenant: "acme",
    provider: "tencent",
    appId: "1400000000",
    userId: `user${counter}`,
    status: "online",
    reason: "login",
    platform: "ios",
    clientIp: "127.0.0.1",
    connectionId: null,
    background: null,
    kickedPlatforms: [],
    customStatus: null,
    occurredAt: at,
    receivedAt: at,
    sequence: counter,
    presence: { online: true, platforms: [{ provider: "tencent", platform: "ios", device: null, since: at }] },
    changed: true,
    stale: false,
    ...overrides,
  });
}

/** The ingest stream of the event's partition, where the gateway would have put it. */
export function streamOf(keys: RedisKeys, event: Pick<ImrelayEvent, "tenant" | "userId">): string {
  return keys.ingest(keys.partitionOf(event.tenant, event.userId));
}

/** XADDs an event the way the gateway does, to its partition's stream: `e` the event JSON, `r` the raw JSON when given. */
export async function publish(redis: Redis, keys: RedisKeys, event: ImrelayEvent, raw?: unknown): Promise<string> {
  const fields = ["e", JSON.stringify(event)];
  if (raw !== undefined) fields.push("r", JSON.stringify(raw));
  return (await redis.xadd(streamOf(keys, event), "*", ...fields)) as string;
}

/** Entries left on every partition's ingest stream, and how many of them are read and not acked. */
export async function ingestBacklog(redis: Redis, keys: RedisKeys): Promise<{ entries: number; pending: number }> {
  let entries = 0;
  let pending = 0;
  for (let p = 0; p < keys.partitions; p++) {
    entries += await redis.xlen(keys.ingest(p));
    const summary = (await redis.xpending(keys.ingest(p), keys.ingestGroup).catch(() => [0])) as [number];
    pending += Number(summary[0]);
  }
  return { entries, pending };
}

/** Every partition's delivery queue, read as one, so a test finds a job without knowing its partition. */
export function deliveryQueues(redis: Redis, keys: RedisKeys) {
  const queues = createDeliveryQueues(redis, keys) as unknown as Array<Queue<DeliveryJobState>>;
  const batches = createBatchQueues(redis, keys);
  const getJob = async (id: string): Promise<Job<DeliveryJobState> | undefined> => {
    for (const queue of queues) {
      const job = await queue.getJob(id);
      if (job) return job;
    }
    return undefined;
  };
  return {
    queues,
    /** The queue the dispatcher puts the event's jobs on. */
    of: (event: Pick<ImrelayEvent, "tenant" | "userId">) => queues[keys.partitionOf(event.tenant, event.userId)]!,
    /** Every partition's batch queue, by partition. */
    batches,
    /** The batch queue of the event's partition. */
    batchesOf: (event: Pick<ImrelayEvent, "tenant" | "userId">) =>
      batches[keys.partitionOf(event.tenant, event.userId)]!,
    getJob,
    /** A job's state; "completed" too for a delivery that succeeded at its first attempt (no job, a log record). */
    getJobState: async (id: string) => {
      const job = await getJob(id);
      if (job) return job.getState();
      for (const p of allPartitions(keys)) if (await findDelivered(redis, keys, p, id)) return "completed";
      return "unknown";
    },
    getFailed: async () => (await Promise.all(queues.map((queue) => queue.getFailed()))).flat(),
    close: async () => {
      await Promise.all([...queues, ...batches].map((queue) => queue.close()));
    },
  };
}

export interface SinkRequest {
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

export interface Sink {
  url: string;
  port: number;
  requests: SinkRequest[];
  close(): Promise<void>;
}

/**
 * A real HTTP receiver on a loopback port. `answer` gets each request (with its
 * body read) and its index; it may leave the response hanging.
 */
export async function startSink(
  answer: (req: IncomingMessage, res: ServerResponse, index: number) => void = (_req, res) => res.end("ok"),
): Promise<Sink> {
  const requests: SinkRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const index = requests.length;
      requests.push({
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        at: Date.now(),
      });
      answer(req, res, index);
    });
  });
  // No host: the dual-stack wildcard, so 127.0.0.1, localhost and [::1] all reach it.
  await new Promise<void>((resolve) => server.listen(0, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface EndpointInput {
  id: string;
  url: string;
  secret?: string | string[];
  events?: string[];
  filter?: Record<string, unknown>;
  changesOnly?: boolean;
  includeRaw?: boolean;
  enabled?: boolean;
  rateLimit?: { perSecond: number };
}

/** A validated config for tenant `acme` with these endpoints, short retries, loopback allowed. */
export function makeConfig(
  prefix: string,
  endpoints: EndpointInput[],
  delivery: Record<string, unknown> = {},
): ImrelayConfig {
  return parseConfig(
    {
      redis: { url: REDIS_URL, prefix },
      tenants: {
        acme: {
          tencent: { sdkAppId: "1400000000" },
          endpoints: endpoints.map((endpoint) => ({ secret: SECRET, ...endpoint })),
        },
      },
      delivery: {
        timeoutMs: 2000,
        retrySchedule: [50, 50],
        allowPrivateNetworks: true,
        lockDuration: 5000,
        ...delivery,
      },
    },
    "test config",
    {},
  );
}

/** A logger that keeps every line as an object, so tests can read what was logged. */
export function captureLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

export async function waitFor<T>(
  probe: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 25, what = "condition" } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Deletes every key under the prefix (SCAN, not KEYS: Redis may be shared). */
export async function cleanupPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, found] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
    if (found.length) await redis.del(...found);
    cursor = next;
  } while (cursor !== "0");
}

export function newRedis(): Redis {
  return new Redis(REDIS_URL, { maxRetriesPerRequest: null });
}

export { redisKeys };

/**
 * A test file's shared state: a key prefix of its own (a fresh one per
 * harness from `nextPrefix`), a Redis connection, and what to stop after each
 * test; the prefix's keys are deleted after the file.
 */
export function testFile() {
  const filePrefix = testPrefix();
  const redis = newRedis();
  const stops: Array<() => Promise<void>> = [];
  let harnesses = 0;
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });
  afterAll(async () => {
    await cleanupPrefix(redis, filePrefix);
    await redis.quit();
  });
  return { redis, stops, filePrefix, nextPrefix: () => `${filePrefix}:${++harnesses}` };
}
