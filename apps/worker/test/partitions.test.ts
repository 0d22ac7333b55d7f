import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { PartitionCountError } from "@imrelay/store";
import { Redis } from "ioredis";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { startWorker } from "../src/index.js";
import {
  captureLogger,
  ingestBacklog,
  makeConfig,
  makeEvent,
  publish,
  REDIS_URL,
  redisKeys,
  sleep,
  startSink,
  testFile,
  waitFor,
} from "./helpers.js";

const { redis, stops, nextPrefix } = testFile();

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** A `redis-server` of the test's own (a master to give a replica, or the replica). */
async function privateRedis(args: string[] = []): Promise<{ port: number; client: Redis }> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    "redis-server",
    // A replica keeps the RDB it receives on disk unless told otherwise: keep it in the temp
    // directory (never the working tree) and load an empty replica straight from the socket.
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      tmpdir(),
      "--repl-diskless-load",
      "on-empty-db",
      ...args,
    ],
    { stdio: "ignore" },
  );
  stops.push(
    () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGKILL");
      }),
  );
  const client = new Redis(port, "127.0.0.1", { maxRetriesPerRequest: null });
  client.on("error", () => {});
  stops.push(async () => client.disconnect());
  await waitFor(async () => (await client.ping().catch(() => "")) === "PONG", { what: "redis-server to start" });
  return { port, client };
}

describe("partitions", () => {
  it("serves only the partitions it is given, and leaves the others' events for a worker that serves them", async () => {
    const prefix = nextPrefix();
    const keys = redisKeys(prefix);
    const sink = await startSink();
    stops.push(() => sink.close());
    const config = makeConfig(prefix, [{ id: "presence", url: sink.url }]);
    const events = Array.from({ length: 40 }, () => makeEvent());
    const low = (p: number) => p < 8;
    const partitionOf = (e: (typeof events)[number]) => keys.partitionOf(e.tenant, e.userId);
    expect(events.some((e) => low(partitionOf(e)))).toBe(true);
    expect(events.some((e) => !low(partitionOf(e)))).toBe(true);

    const half = await startWorker({
      config,
      logger: captureLogger().logger,
      registry: new Registry(),
      redisUrl: REDIS_URL,
      partitions: [0, 1, 2, 3, 4, 5, 6, 7],
      dispatcher: { blockMs: 200 },
    });
    stops.push(() => half.close());
    for (const event of events) await publish(redis, keys, event);
    const lowIds = events.filter((e) => low(partitionOf(e))).map((e) => e.id);
    await waitFor(() => sink.requests.length === lowIds.length, { what: "the low partitions' deliveries" });
    await sleep(300);
    expect(sink.requests.map((r) => r.headers["webhook-id"]).sort()).toEqual([...lowIds].sort());

    const rest = await startWorker({
      config,
      logger: captureLogger().logger,
      registry: new Registry(),
      redisUrl: REDIS_URL,
      partitions: [8, 9, 10, 11, 12, 13, 14, 15],
      dispatcher: { blockMs: 200 },
    });
    stops.push(() => rest.close());
    await waitFor(() => sink.requests.length === events.length, { what: "every delivery" });
    expect(new Set(sink.requests.map((r) => r.headers["webhook-id"]))).toEqual(new Set(events.map((e) => e.id)));
  });

  it("refuses a partition that does not exist", async () => {
    const prefix = nextPrefix();
    const started = startWorker({
      config: makeConfig(prefix, []),
      logger: captureLogger().logger,
      registry: new Registry(),
      redisUrl: REDIS_URL,
      partitions: [3, 16],
    });
    await expect(started).rejects.toThrow("no partition 16: partitions are 0 to 15");
  });

  it("refuses to start on data written with another partition count, naming both numbers", async () => {
    const prefix = nextPrefix();
    await redis.hset(redisKeys(prefix).meta, "partitions", "32");
    const started = startWorker({
      config: makeConfig(prefix, []),
      logger: captureLogger().logger,
      registry: new Registry(),
      redisUrl: REDIS_URL,
    });
    await expect(started).rejects.toBeInstanceOf(PartitionCountError);
    await expect(started).rejects.toThrow(/redis\.partitions is 16, but .* written with 32 partitions/);
  });
});

describe("the dispatcher under a steady flow", () => {
  it("lingers after a small batch, so events trickling in are handed off a batch at a time", async () => {
    const prefix = nextPrefix();
    const keys = redisKeys(prefix);
    const sink = await startSink();
    stops.push(() => sink.close());
    const { logger, lines } = captureLogger();
    const worker = await startWorker({
      config: makeConfig(prefix, [{ id: "presence", url: sink.url }]),
      logger,
      registry: new Registry(),
      redisUrl: REDIS_URL,
      dispatcher: { blockMs: 200, lingerMs: 100 },
    });
    stops.push(() => worker.close());
    // One user: one partition, one loop; an event every 2 ms for about a quarter of a second.
    const events = Array.from({ length: 100 }, () => makeEvent({ userId: "steady" }));
    for (const event of events) {
      await publish(redis, keys, event);
      await sleep(2);
    }
    await waitFor(() => sink.requests.length === events.length, { what: "every delivery" });
    const batches = lines.filter((l) => l.msg === "dispatched").map((l) => l.entries as number);
    expect(batches.reduce((a, b) => a + b, 0)).toBe(events.length);
    // Without the pause, nearly every event would be a hand-off of its own.
    expect(batches.length).toBeLessThan(10);
  });
});

describe("redis.replicaAcks", () => {
  it("acks an ingest entry only once a replica has its delivery jobs", async () => {
    const prefix = nextPrefix();
    const keys = redisKeys(prefix);
    const master = await privateRedis(["--repl-diskless-sync-delay", "0"]);
    // The first attempt fails, so the delivery becomes a job (its retry) that must reach a replica.
    const sink = await startSink((_req, res, index) => {
      res.statusCode = index === 0 ? 503 : 200;
      res.end();
    });
    stops.push(() => sink.close());
    const base = makeConfig(prefix, [{ id: "presence", url: sink.url }]);
    const config = {
      ...base,
      redis: { ...base.redis, replicaAcks: 1 },
      delivery: { ...base.delivery, retrySchedule: [100] },
    };
    const { logger, lines } = captureLogger();
    const worker = await startWorker({
      config,
      logger,
      registry: new Registry(),
      redisUrl: `redis://127.0.0.1:${master.port}`,
      dispatcher: { blockMs: 200, replicaTimeoutMs: 200 },
    });
    stops.push(() => worker.close());
    const event = makeEvent();
    await publish(master.client, keys, event);

    // No replica: the retry's job is added (and sent), but the entry stays pending, to be handed off again.
    await waitFor(
      () => lines.some((l) => String((l.err as { message?: string })?.message).includes("0 of 1 replicas")),
      {
        what: "the hand-off to wait for a replica",
      },
    );
    expect(await ingestBacklog(master.client, keys)).toEqual({ entries: 1, pending: 1 });

    await privateRedis(["--replicaof", "127.0.0.1", String(master.port)]);
    await waitFor(async () => (await ingestBacklog(master.client, keys)).entries === 0, {
      timeoutMs: 10_000,
      what: "the entry to be acked once a replica has the jobs",
    });
    expect(new Set(sink.requests.map((r) => r.headers["webhook-id"]))).toEqual(new Set([event.id]));
  });
});
