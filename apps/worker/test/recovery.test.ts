import { execFileSync, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createDeliveryQueue, type DeliveryJobData, deliveryJobId, deliveryJobOptions } from "@imrelay/store";
import type { Queue } from "bullmq";
import { Registry } from "prom-client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startWorker } from "../src/index.js";
import {
  captureLogger,
  cleanupPrefix,
  deliveryQueues,
  makeConfig,
  makeEvent,
  newRedis,
  publish,
  REDIS_URL,
  redisKeys,
  sleep,
  startSink,
  streamOf,
  waitFor,
} from "./helpers.js";

const here = dirname(fileURLToPath(import.meta.url));
const filePrefix = `test-${crypto.randomUUID()}`;
const redis = newRedis();
const stops: Array<() => Promise<void>> = [];

beforeAll(() => {
  // The child process runs the compiled worker: make sure dist is this source.
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  execFileSync(process.execPath, [tsc, "-b"], { cwd: join(here, ".."), stdio: "inherit" });
});

afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

afterAll(async () => {
  await cleanupPrefix(redis, filePrefix);
  await redis.quit();
});

describe("recovery", () => {
  it("delivers a job whose worker was killed with SIGKILL in the middle of delivering it", async () => {
    const prefix = `${filePrefix}:killed`;
    const keys = redisKeys(prefix);
    // The first request hangs (the worker dies waiting); later ones succeed.
    const sink = await startSink((_req, res, index) => {
      if (index > 0) res.end("ok");
    });
    stops.push(() => sink.close());
    const endpoints = [{ id: "presence", url: sink.url }];
    const childConfig = makeConfig(prefix, endpoints, { lockDuration: 1000, timeoutMs: 30_000 });

    const child = spawn(process.execPath, [join(here, "child", "run-worker.mjs")], {
      env: { ...process.env, IMRELAY_TEST_CONFIG: JSON.stringify(childConfig) },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on("exit", (_code, signal) => resolve(signal)),
    );
    stops.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (chunk: Buffer) => chunk.toString().includes("ready") && resolve());
      child.on("exit", () => reject(new Error("the child worker exited before it was ready")));
    });

    const event = makeEvent();
    await publish(redis, keys, event);
    await waitFor(() => sink.requests.length === 1, { what: "the child to start delivering" });
    child.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");

    const config = makeConfig(prefix, endpoints, { lockDuration: 1000 });
    const worker = await startWorker({
      config,
      logger: captureLogger().logger,
      registry: new Registry(),
      redisUrl: REDIS_URL,
      dispatcher: { blockMs: 200 },
    });
    stops.push(() => worker.close());
    const queue = deliveryQueues(redis, keys);
    stops.push(() => queue.close());

    const jobId = deliveryJobId(event.id, "presence");
    await waitFor(async () => (await queue.getJobState(jobId)) === "completed", {
      timeoutMs: 15_000,
      what: "the stalled job to be delivered",
    });
    expect(sink.requests).toHaveLength(2);
    expect(sink.requests.map((request) => request.headers["webhook-id"])).toEqual([event.id, event.id]);
  });

  it("takes over a dead worker's delivery after its lock runs out, within lockDuration + stalledInterval", async () => {
    const prefix = `${filePrefix}:takeover`;
    const keys = redisKeys(prefix);
    const sink = await startSink((_req, res, index) => {
      if (index > 0) res.end("ok");
    });
    stops.push(() => sink.close());
    const endpoints = [{ id: "presence", url: sink.url }];
    const lockDuration = 3000;
    const stalledInterval = 250;
    const timing = { lockDuration, stalledInterval, timeoutMs: 30_000 };

    const child = spawn(process.execPath, [join(here, "child", "run-worker.mjs")], {
      env: { ...process.env, IMRELAY_TEST_CONFIG: JSON.stringify(makeConfig(prefix, endpoints, timing)) },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    stops.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (chunk: Buffer) => chunk.toString().includes("ready") && resolve());
      child.on("exit", () => reject(new Error("the child worker exited before it was ready")));
    });
    const event = makeEvent();
    await publish(redis, keys, event);
    await waitFor(() => sink.requests.length === 1, { what: "the child to start delivering" });

    // The survivor runs before the death, as in a deployment: its stalled checks are already going.
    const survivor = await startWorker({
      config: makeConfig(prefix, endpoints, timing),
      logger: captureLogger().logger,
      registry: new Registry(),
      redisUrl: REDIS_URL,
      dispatcher: { blockMs: 200 },
    });
    stops.push(() => survivor.close());
    // Let the child renew its lock at least once more, then kill it.
    await sleep(lockDuration / 2);
    child.kill("SIGKILL");
    await exited;
    const killedAt = Date.now();

    await waitFor(() => sink.requests.length === 2, { timeoutMs: 15_000, what: "the takeover" });
    const takeover = sink.requests[1]!.at - killedAt;
    // Not before the lock ran out (a live worker renews it at least every lockDuration / 2) ...
    expect(takeover).toBeGreaterThanOrEqual(lockDuration / 2 - 100);
    // ... and no later than one stalled check after that, plus room for a busy machine. (With the
    // check every lockDuration, as BullMQ's default has it, this takeover came after 4.5 s.)
    expect(takeover).toBeLessThan(lockDuration + stalledInterval + 750);
    expect(sink.requests[1]!.headers["webhook-id"]).toBe(event.id);
  });

  it("claims the entries of a dispatcher that read them and died before acking, and delivers each exactly once", async () => {
    const prefix = `${filePrefix}:claimed`;
    const keys = redisKeys(prefix);
    const sink = await startSink();
    stops.push(() => sink.close());
    const config = makeConfig(prefix, [{ id: "presence", url: sink.url }]);
    // One user's events: one partition, one stream.
    const events = [makeEvent({ userId: "u" }), makeEvent({ userId: "u" }), makeEvent({ userId: "u" })];
    const stream = streamOf(keys, events[0]!);

    // The dead dispatcher: joined the group, read every entry, queued the first event's job, never acked.
    await redis.xgroup("CREATE", stream, keys.ingestGroup, "0", "MKSTREAM");
    for (const event of events) await publish(redis, keys, event);
    const read = (await redis.xreadgroup("GROUP", keys.ingestGroup, "dead", "COUNT", 10, "STREAMS", stream, ">")) as [
      string,
      unknown[],
    ][];
    expect(read[0]![1]).toHaveLength(3);
    const queue = createDeliveryQueue(redis, keys, keys.partitionOf("acme", "u")) as unknown as Queue<DeliveryJobData>;
    stops.push(() => queue.close());
    const first = events[0]!;
    await queue.add(
      "deliver",
      { tenant: "acme", endpointId: "presence", event: first },
      { ...deliveryJobOptions(config.delivery), jobId: deliveryJobId(first.id, "presence") },
    );

    const worker = await startWorker({
      config,
      logger: captureLogger().logger,
      registry: new Registry(),
      redisUrl: REDIS_URL,
      dispatcher: { blockMs: 200, claimIdleMs: 500, claimIntervalMs: 200 },
    });
    stops.push(() => worker.close());

    await waitFor(() => new Set(sink.requests.map((request) => request.headers["webhook-id"])).size === 3, {
      what: "every event to be delivered",
    });
    await waitFor(async () => (await redis.xlen(stream)) === 0, { what: "the entries to be acked and deleted" });
    // Long enough for another claim round to re-add anything it would.
    await sleep(800);
    const counts = new Map<string, number>();
    for (const request of sink.requests) {
      const id = String(request.headers["webhook-id"]);
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect(Object.fromEntries(counts)).toEqual(Object.fromEntries(events.map((event) => [event.id, 1])));
    expect((await redis.xpending(stream, keys.ingestGroup))[0]).toBe(0);
  });

  it("delivers events that were queued before any worker had created the consumer group", async () => {
    const prefix = `${filePrefix}:early`;
    const keys = redisKeys(prefix);
    const sink = await startSink();
    stops.push(() => sink.close());
    const early = makeEvent();
    await publish(redis, keys, early);

    const worker = await startWorker({
      config: makeConfig(prefix, [{ id: "presence", url: sink.url }]),
      logger: captureLogger().logger,
      registry: new Registry(),
      redisUrl: REDIS_URL,
      dispatcher: { blockMs: 200 },
    });
    stops.push(() => worker.close());

    await waitFor(() => sink.requests.length === 1, { what: "the early event's delivery" });
    expect(sink.requests[0]!.headers["webhook-id"]).toBe(early.id);
  });
});
