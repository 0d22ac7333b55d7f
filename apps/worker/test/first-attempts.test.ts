import type { ImrelayConfig } from "@imrelay/config";
import { toPayload } from "@imrelay/core";
import {
  allPartitions,
  batchDeliveries,
  countKept,
  DELIVERY_BATCH_JOB_NAME,
  DELIVERY_BATCH_MAX,
  type DeliveryBatchData,
  type DeliveryJobState,
  deliveryJobId,
  disableEndpoint,
  findDelivered,
  listDisabledEndpoints,
  packBatch,
} from "@imrelay/store";
import type { Job } from "bullmq";
import { Registry } from "prom-client";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import {
  batchRemainder,
  createAttempt,
  createBatchProcessor,
  createDeliveryAgent,
  createEntryAcks,
  createFirstAttempts,
  QUIET_ENDPOINT_MS,
  SLOW_ENDPOINT_MS,
  SPILL_LINGER_MS,
  startWorker,
  workerMetrics,
} from "../src/index.js";
import {
  captureLogger,
  deliveryQueues,
  type EndpointInput,
  ingestBacklog,
  makeConfig,
  makeEvent,
  publish,
  REDIS_URL,
  redisKeys,
  SECRET,
  type Sink,
  sleep,
  startSink,
  testFile,
  waitFor,
} from "./helpers.js";

const { redis, stops, nextPrefix } = testFile();

async function harness(
  endpoints: (sinks: Sink[]) => EndpointInput[],
  answers: Array<Parameters<typeof startSink>[0]>,
  delivery: Record<string, unknown> = {},
  dispatcher: Parameters<typeof startWorker>[0]["dispatcher"] = {},
) {
  const prefix = nextPrefix();
  const keys = redisKeys(prefix);
  const sinks = await Promise.all(answers.map((answer) => startSink(answer)));
  for (const sink of sinks) stops.push(() => sink.close());
  const config: ImrelayConfig = makeConfig(prefix, endpoints(sinks), delivery);
  const queue = deliveryQueues(redis, keys);
  stops.push(() => queue.close());
  const start = async () => {
    const worker = await startWorker({
      config,
      logger: captureLogger().logger,
      registry: new Registry(),
      redisUrl: REDIS_URL,
      dispatcher: { blockMs: 200, ...dispatcher },
    });
    stops.push(() => worker.close());
    return worker;
  };
  const job = (eventId: string, endpointId: string) =>
    queue.getJob(deliveryJobId(eventId, endpointId)) as Promise<Job<DeliveryJobState> | undefined>;
  const logged = async (eventId: string, endpointId: string) => {
    for (const p of allPartitions(keys)) {
      const record = await findDelivered(redis, keys, p, deliveryJobId(eventId, endpointId));
      if (record) return record;
    }
    return null;
  };
  return { keys, sinks, config, queue, start, job, logged };
}

describe("first attempts sent straight from the ingest stream", () => {
  it("delivers without a job, logs the delivery for the admin API, and acks the entry", async () => {
    const h = await harness((sinks) => [{ id: "presence", url: `${sinks[0]!.url}/hooks` }], [undefined]);
    await h.start();
    const event = makeEvent();
    await publish(redis, h.keys, event);

    const record = await waitFor(() => h.logged(event.id, "presence"), { what: "the delivery to be logged" });
    expect(record).toMatchObject({ id: deliveryJobId(event.id, "presence"), tenant: "acme", status: 200 });
    expect(record.finishedAt).toBeGreaterThanOrEqual(record.readAt);
    // The logged body is what the endpoint got, signed.
    const request = h.sinks[0]!.requests[0]!;
    expect(record.body).toBe(request.body);
    expect(() => new Webhook(SECRET).verify(request.body, request.headers as Record<string, string>)).not.toThrow();
    expect(await h.job(event.id, "presence")).toBeUndefined();
    await waitFor(async () => (await ingestBacklog(redis, h.keys)).entries === 0, { what: "the entry to be acked" });
    expect(await ingestBacklog(redis, h.keys)).toEqual({ entries: 0, pending: 0 });
  });

  it("turns a failed first attempt into a job that carries it, due on the schedule", async () => {
    const h = await harness(
      (sinks) => [{ id: "presence", url: sinks[0]!.url }],
      [
        (_req, res, index) => {
          res.statusCode = index === 0 ? 503 : 200;
          res.end(index === 0 ? "busy" : "ok");
        },
      ],
      { retrySchedule: [1_500, 60_000] },
    );
    await h.start();
    const event = makeEvent();
    await publish(redis, h.keys, event);

    const job = await waitFor(() => h.job(event.id, "presence"), { what: "the retry's job" });
    expect(job.data.priorAttempts).toBe(1);
    expect(job.data.lastResponse).toMatchObject({ status: 503, bodyExcerpt: "busy", attempt: 1 });
    expect(await job.getState()).toBe("delayed");
    // 1.5 s ± 20 % jitter.
    expect(job.delay).toBeGreaterThanOrEqual(1_200);
    expect(job.delay).toBeLessThanOrEqual(1_800);
    await waitFor(async () => (await h.queue.getJobState(job.id!)) === "completed", { what: "the retry" });
    const done = (await h.job(event.id, "presence"))!;
    expect(done.returnvalue).toMatchObject({ status: 200, attempt: 2 });
    expect(h.sinks[0]!.requests.map((r) => r.headers["webhook-id"])).toEqual([event.id, event.id]);
    await waitFor(async () => (await ingestBacklog(redis, h.keys)).entries === 0, { what: "the entry to be acked" });
  });

  it("makes a first attempt answered 410 a dead letter at once, and disables the endpoint", async () => {
    const h = await harness(
      (sinks) => [{ id: "presence", url: sinks[0]!.url }],
      [
        (_req, res) => {
          res.statusCode = 410;
          res.end("gone");
        },
      ],
    );
    await h.start();
    const event = makeEvent();
    await publish(redis, h.keys, event);

    await waitFor(async () => (await h.queue.getJobState(deliveryJobId(event.id, "presence"))) === "failed", {
      what: "the dead letter",
    });
    const job = (await h.job(event.id, "presence"))!;
    expect(job.failedReason).toBe("HTTP 410 from endpoint presence: endpoint disabled");
    expect(job.data.deadLetter).toEqual({ code: "ENDPOINT_GONE", message: job.failedReason });
    expect(job.data.lastResponse).toMatchObject({ status: 410, attempt: 1 });
    expect(await listDisabledEndpoints(redis, h.keys)).toEqual([
      expect.objectContaining({ tenant: "acme", endpointId: "presence", reason: "410 Gone" }),
    ]);
    // The next event goes nowhere near the endpoint: a dead letter too.
    const next = makeEvent();
    await publish(redis, h.keys, next);
    await waitFor(async () => (await h.queue.getJobState(deliveryJobId(next.id, "presence"))) === "failed", {
      what: "the next event's dead letter",
    });
    expect(h.sinks[0]!.requests).toHaveLength(1);
  });

  it("reads the disabled set afresh after a read that waited: an endpoint disabled while the stream was quiet gets nothing", async () => {
    const h = await harness((sinks) => [{ id: "presence", url: sinks[0]!.url }], [undefined]);
    await h.start();
    const before = makeEvent();
    await publish(redis, h.keys, before);
    await waitFor(() => h.sinks[0]!.requests.length === 1, { what: "the first event's delivery" });
    // Every partition's loop now waits on its empty stream, with the set as it was.
    await sleep(50);
    await disableEndpoint(redis, h.keys, "acme", "presence", "paused by an admin");
    const after = makeEvent();
    await publish(redis, h.keys, after);

    await waitFor(async () => (await h.queue.getJobState(deliveryJobId(after.id, "presence"))) === "failed", {
      what: "the dead letter",
    });
    expect((await h.job(after.id, "presence"))!.failedReason).toBe("endpoint disabled");
    expect(h.sinks[0]!.requests).toHaveLength(1);
  });

  it("sends nothing more to an endpoint that answered 410, even what was already read for it", async () => {
    const h = await harness(
      (sinks) => [{ id: "presence", url: sinks[0]!.url }],
      [
        (_req, res) => {
          res.statusCode = 410;
          res.end();
        },
      ],
      // One at a time: the rest of the batch waits for the endpoint's slot while the first is out.
      { concurrency: 2, endpointConcurrency: 1 },
    );
    const events = Array.from({ length: 5 }, () => makeEvent({ userId: "gone" }));
    for (const event of events) await publish(redis, h.keys, event);
    await h.start();

    const ids = events.map((event) => deliveryJobId(event.id, "presence"));
    await waitFor(
      async () => (await Promise.all(ids.map((id) => h.queue.getJobState(id)))).every((s) => s === "failed"),
      {
        what: "every delivery to be a dead letter",
      },
    );
    expect(h.sinks[0]!.requests).toHaveLength(1);
    // Those read with the first become dead letters here; any read later are refused by the queue's check.
    const reasons = await Promise.all(ids.map(async (id) => (await h.queue.getJob(id))!.failedReason));
    expect(reasons.sort()).toEqual([
      "HTTP 410 from endpoint presence: endpoint disabled",
      "endpoint disabled",
      "endpoint disabled",
      "endpoint disabled",
      "endpoint disabled",
    ]);
  });

  it("sends a slow endpoint's overflow to the queue in a batch, so a fast endpoint is not held up", async () => {
    const slowMs = 600;
    const h = await harness(
      (sinks) => [
        { id: "slow", url: sinks[0]!.url },
        { id: "fast", url: sinks[1]!.url },
      ],
      [(_req, res) => setTimeout(() => res.end("ok"), slowMs), undefined],
      { concurrency: 4, endpointConcurrency: 2, timeoutMs: 5_000 },
    );
    // One user: one partition, one stream, so the overflow is batched together.
    const events = Array.from({ length: 10 }, () => makeEvent({ userId: "hol" }));
    for (const event of events) await publish(redis, h.keys, event);
    const started = Date.now();
    await h.start();

    await waitFor(() => h.sinks[1]!.requests.length === events.length, { what: "every fast delivery" });
    // Every fast delivery came before the slow endpoint had answered its first two.
    expect(Date.now() - started).toBeLessThan(slowMs * 2);
    const batches = await waitFor(
      async () => {
        const jobs = await h.queue.batchesOf(events[0]!).getJobs(["waiting", "active"]);
        const found = jobs.filter((job) => job?.name === DELIVERY_BATCH_JOB_NAME);
        return found.length > 0 ? (found as unknown as Array<Job<DeliveryBatchData>>) : undefined;
      },
      { what: "the slow endpoint's batch" },
    );
    // By reference: the entries' ids, no payload; the entries stay in the stream, acked.
    const p = h.keys.partitionOf("acme", "hol");
    const entries = batches.flatMap((job) => job.data.entries ?? []);
    for (const job of batches) expect(job.data.packed ?? job.data.deliveries).toBeUndefined();
    // Its share (2) went out from the stream, as many again waited for them until it was found slow.
    expect(entries.length).toBeGreaterThanOrEqual(events.length - 2 * 2);
    const stream = h.keys.ingest(p);
    expect(await redis.xlen(stream)).toBeGreaterThanOrEqual(entries.length);
    expect(await countKept(redis, h.keys, p)).toBe(entries.length);
    await waitFor(() => new Set(h.sinks[0]!.requests.map((r) => r.headers["webhook-id"])).size === events.length, {
      timeoutMs: 30_000,
      what: "every slow delivery",
    });
    // Each batched delivery is in the delivered log once sent, signed like any other; the batch
    // itself is gone, and so are the entries it referred to.
    const last = await waitFor(() => h.logged(events.at(-1)!.id, "slow"), { what: "the log" });
    // Logged from the entry it referred to: the very body the endpoint got.
    const lastSent = h.sinks[0]!.requests.find((r) => r.headers["webhook-id"] === last.id.replace(/\.slow$/, ""));
    expect(last.body).toBe(lastSent?.body);
    const webhook = new Webhook(SECRET);
    for (const request of h.sinks[0]!.requests) {
      const payload = webhook.verify(request.body, request.headers as Record<string, string>) as {
        data: { id: string };
      };
      expect(events.map((e) => e.id)).toContain(payload.data.id);
    }
    // None went to the delivery queue, where it would hold a slot a retry needs.
    expect(await h.queue.of(events[0]!).getJobCounts("waiting", "active", "delayed", "completed")).toMatchObject({
      waiting: 0,
      active: 0,
      delayed: 0,
      completed: 0,
    });
    await waitFor(async () => (await h.queue.batchesOf(events[0]!).getJob(String(batches[0]!.id))) === undefined, {
      what: "the batch job to be removed",
    });
    await waitFor(async () => (await redis.xlen(stream)) === 0, { what: "the kept entries deleted" });
    expect(await countKept(redis, h.keys, p)).toBe(0);
  });

  it("spills what is read after an endpoint is found slow straight to its batches, and delivers every one once", async () => {
    const h = await harness(
      (sinks) => [
        { id: "slow", url: sinks[0]!.url },
        { id: "fast", url: sinks[1]!.url },
      ],
      [(_req, res) => setTimeout(() => res.end("ok"), 800), undefined],
      { concurrency: 4, endpointConcurrency: 2, timeoutMs: 5_000 },
    );
    const before = Array.from({ length: 4 }, () => makeEvent({ userId: "parked" }));
    for (const event of before) await publish(redis, h.keys, event);
    await h.start();
    await waitFor(() => h.sinks[1]!.requests.length === before.length, { what: "the first fast deliveries" });
    // Its share has been out longer than QUIET_ENDPOINT_MS: found slow, so what comes next is parked.
    await sleep(QUIET_ENDPOINT_MS + 50);
    expect(h.sinks[0]!.requests.length).toBe(2);
    const after = Array.from({ length: 12 }, () => makeEvent({ userId: "parked" }));
    const published = Date.now();
    for (const event of after) await publish(redis, h.keys, event);
    const events = [...before, ...after];
    await waitFor(() => h.sinks[1]!.requests.length === events.length, { what: "every fast delivery" });
    // Sooner than the slow endpoint answers anything.
    expect(Date.now() - published).toBeLessThan(600);
    const batch = await waitFor(
      async () => {
        const jobs = await h.queue.batchesOf(events[0]!).getJobs(["waiting", "active"]);
        return jobs.find((job) => job?.data.entries?.length) as Job<DeliveryBatchData> | undefined;
      },
      { what: "a batch by reference" },
    );
    expect(batch.data.endpointId).toBe("slow");
    const ids = (sink: Sink) => sink.requests.map((r) => r.headers["webhook-id"]);
    await waitFor(() => new Set(ids(h.sinks[0]!)).size === events.length, {
      timeoutMs: 30_000,
      what: "every slow delivery",
    });
    expect(ids(h.sinks[0]!).sort()).toEqual(events.map((e) => e.id).sort());
    expect(ids(h.sinks[1]!).sort()).toEqual(events.map((e) => e.id).sort());
    // Every entry let go: none held, none kept for a batch.
    const p = h.keys.partitionOf("acme", "parked");
    await waitFor(async () => (await redis.xlen(h.keys.ingest(p))) === 0, { what: "the entries deleted" });
    expect(await countKept(redis, h.keys, p)).toBe(0);
    expect(((await redis.xpending(h.keys.ingest(p), h.keys.ingestGroup)) as unknown[])[0]).toBe(0);
  });

  it.each([
    ["its partition's batch queue", "batches"],
    ["a delivery queue, where older versions put batches", "deliveries"],
  ] as const)(
    "makes a batched delivery that fails a job of its own, with its first attempt counted (batch in %s)",
    async (_where, queueName) => {
      const h = await harness(
        (sinks) => [{ id: "presence", url: sinks[0]!.url }],
        [
          (_req, res, index) => {
            // The batch's second delivery fails.
            res.statusCode = index === 1 ? 503 : 200;
            res.end();
          },
        ],
        { retrySchedule: [60_000] },
      );
      await h.start();
      const ok = makeEvent({ userId: "batch" });
      const failing = makeEvent({ userId: "batch" });
      const p = h.keys.partitionOf("acme", "batch");
      const data: DeliveryBatchData = {
        tenant: "acme",
        endpointId: "presence",
        partition: p,
        deliveries: [ok, failing].map((event) => ({
          id: deliveryJobId(event.id, "presence"),
          body: JSON.stringify(toPayload(event)),
        })),
      };
      const queue = queueName === "batches" ? h.queue.batchesOf(ok) : h.queue.of(ok);
      await queue.add(DELIVERY_BATCH_JOB_NAME as never, data as never, { jobId: "batch.test.2" });

      const retry = await waitFor(() => h.job(failing.id, "presence"), { what: "the failed delivery's job" });
      expect(retry.data.priorAttempts).toBe(1);
      expect(retry.data.lastResponse).toMatchObject({ status: 503, attempt: 1 });
      expect(await retry.getState()).toBe("delayed");
      expect(await waitFor(() => h.logged(ok.id, "presence"), { what: "the delivered one" })).toMatchObject({
        status: 200,
      });
      expect(await h.job(ok.id, "presence")).toBeUndefined();
      expect(h.sinks[0]!.requests.map((r) => r.headers["webhook-id"])).toEqual([ok.id, failing.id]);
    },
  );

  it("runs a slow endpoint's batches in their own queue, so another endpoint's job in the same partition does not wait behind them", async () => {
    const slowMs = 1_000;
    const h = await harness(
      (sinks) => [
        { id: "slow", url: sinks[0]!.url },
        { id: "other", url: sinks[1]!.url },
      ],
      [(_req, res) => setTimeout(() => res.end("ok"), slowMs), undefined],
      // Three slots per partition's queue worker (48 over 16 partitions); two sends of an endpoint at once.
      { concurrency: 48, endpointConcurrency: 2, timeoutMs: 5_000 },
    );
    const events = Array.from({ length: 8 }, () => makeEvent({ userId: "lane" }));
    // Four batches of two, more than the partition's three slots: four rounds of a second to go.
    for (let b = 0; b < 4; b++) {
      const data: DeliveryBatchData = {
        tenant: "acme",
        endpointId: "slow",
        partition: h.keys.partitionOf("acme", "lane"),
        packed: packBatch(
          events.slice(b * 2, b * 2 + 2).map((event) => ({
            id: deliveryJobId(event.id, "slow"),
            body: JSON.stringify(toPayload(event)),
          })),
        ),
      };
      await h.queue.batchesOf(events[0]!).add(DELIVERY_BATCH_JOB_NAME, data, { jobId: `batch.lane.${b}` });
    }
    await h.start();
    await waitFor(() => h.sinks[0]!.requests.length > 0, { what: "the slow endpoint's first sends" });
    // A retry of another endpoint, in the same partition: every slot of its queue is free.
    const other = makeEvent({ userId: "lane" });
    const queuedAt = Date.now();
    await h.queue
      .of(other)
      .add(
        "deliver" as never,
        { tenant: "acme", endpointId: "other", event: JSON.parse(JSON.stringify(other)) } as never,
        { jobId: deliveryJobId(other.id, "other") },
      );
    await waitFor(() => h.sinks[1]!.requests.length === 1, { what: "the other endpoint's delivery" });
    expect(Date.now() - queuedAt).toBeLessThan(slowMs);
    // Every batched delivery arrives once.
    await waitFor(() => new Set(h.sinks[0]!.requests.map((r) => r.headers["webhook-id"])).size === events.length, {
      timeoutMs: 30_000,
      what: "every slow delivery",
    });
    expect(h.sinks[0]!.requests).toHaveLength(events.length);
  });

  it("keeps the entries of a delivery slower than claimIdleMs its own: another worker does not send it again", async () => {
    const h = await harness(
      (sinks) => [{ id: "presence", url: sinks[0]!.url }],
      [(_req, res) => setTimeout(() => res.end("ok"), 1_500)],
      { timeoutMs: 5_000 },
      { claimIdleMs: 400, claimIntervalMs: 100 },
    );
    await h.start();
    await h.start();
    const events = Array.from({ length: 4 }, (_, i) => makeEvent({ userId: `slow${i}` }));
    for (const event of events) await publish(redis, h.keys, event);

    await waitFor(async () => (await ingestBacklog(redis, h.keys)).entries === 0 && h.sinks[0]!.requests.length >= 4, {
      what: "every delivery",
    });
    await sleep(600);
    const ids = h.sinks[0]!.requests.map((r) => String(r.headers["webhook-id"]));
    expect(ids.sort()).toEqual(events.map((e) => e.id).sort());
  });

  it("passes over a new entry it already holds (a Redis that lost its reads hands one out again): one request, one record", async () => {
    const h = await harness(
      (sinks) => [{ id: "presence", url: sinks[0]!.url }],
      [(_req, res) => setTimeout(() => res.end("ok"), 1_200)],
      { timeoutMs: 5_000 },
    );
    await h.start();
    const event = makeEvent({ userId: "again" });
    await publish(redis, h.keys, event);
    await waitFor(() => h.sinks[0]!.requests.length === 1, { what: "the first attempt out" });
    // As after a restart from an older snapshot: the group forgets what it delivered, and the
    // entry, still held here, comes back as new (`>`).
    const p = h.keys.partitionOf("acme", "again");
    await redis.xgroup("SETID", h.keys.ingest(p), h.keys.ingestGroup, "0");
    await sleep(500);
    expect(h.sinks[0]!.requests).toHaveLength(1);
    await waitFor(async () => (await ingestBacklog(redis, h.keys)).entries === 0, { what: "the entry acked" });
    await sleep(300);
    expect(h.sinks[0]!.requests).toHaveLength(1);
    expect(await h.logged(event.id, "presence")).toMatchObject({ status: 200 });
  });

  it("hands a first attempt in flight back as a job, and acks its entry", async () => {
    const h = await harness(
      (sinks) => [{ id: "presence", url: sinks[0]!.url }],
      // The first request never gets an answer; the next ones do.
      [(_req, res, index) => index > 0 && res.end("ok")],
      { timeoutMs: 10_000 },
    );
    const worker = await h.start();
    const event = makeEvent();
    await publish(redis, h.keys, event);
    await waitFor(() => h.sinks[0]!.requests.length === 1, { what: "the first attempt" });
    expect(worker.inFlight()).toEqual([deliveryJobId(event.id, "presence")]);

    const { handedBack, kept } = await worker.handBack();
    expect(handedBack).toEqual([deliveryJobId(event.id, "presence")]);
    expect(kept).toEqual([]);
    // A job with no attempt counted, which a worker (this one, here) sends at once.
    await waitFor(async () => (await h.queue.getJobState(deliveryJobId(event.id, "presence"))) === "completed", {
      what: "the handed-back delivery",
    });
    const job = (await h.job(event.id, "presence"))!;
    expect(job.data.priorAttempts).toBeUndefined();
    expect(job.returnvalue).toMatchObject({ attempt: 1 });
    expect((await ingestBacklog(redis, h.keys)).entries).toBe(0);
  });
});

describe("how far ahead first attempts read", () => {
  /** Sends of endpoint `endpointId` (tenant acme), as fan-out makes them. */
  const sendsOf = (endpointId: string, n: number) =>
    Array.from({ length: n }, () => {
      const event = makeEvent();
      return {
        name: "deliver" as const,
        data: { tenant: "acme", endpointId, event },
        opts: { jobId: deliveryJobId(event.id, endpointId) },
        body: JSON.stringify(toPayload(event)),
      };
    });

  it("keeps an answering endpoint's backlog in Redis, and reads on past one that has gone quiet", async () => {
    const fastAnswers: Array<() => void> = [];
    const quietAnswers: Array<() => void> = [];
    // The attempt is the seam here: each answer comes when the test gives it.
    const first = createFirstAttempts({
      attempt: (data) =>
        new Promise((resolve) => {
          const answer = () => resolve({ ok: true, result: { status: 200, attempt: 1, durationMs: 1 }, body: "" });
          (data.endpointId === "fast" ? fastAnswers : quietAnswers).push(answer);
        }),
      concurrency: 4,
      endpointConcurrency: 2,
      retrySchedule: [1_000],
    });
    stops.push(async () => {
      first.stop();
      for (const answer of [...fastAnswers.splice(0), ...quietAnswers.splice(0)]) answer();
      await first.idle();
    });
    const turn = () => new Promise((resolve) => setImmediate(resolve));

    // 40 sends of an endpoint that answers: 2 in flight, the rest wait for its slots and count, so
    // there is no room to read more while they wait.
    const fast = sendsOf("fast", 40).map((job) => first.send(job, Date.now()));
    let room: number | undefined;
    void first.room(100).then((n) => {
      room = n;
    });
    for (let i = 0; i < 10; i++) {
      fastAnswers.shift()!();
      await turn();
    }
    expect(room).toBeUndefined();
    while (fastAnswers.length > 0) {
      fastAnswers.shift()!();
      await turn();
    }
    await Promise.all(fast);
    expect(room).toBeGreaterThan(0);
    first.release(room!);

    // 30 sends of an endpoint that has answered nothing for longer than a moment: they do not stop reading.
    for (const job of sendsOf("quiet", 30)) void first.send(job, Date.now());
    await sleep(40);
    expect(await first.room(100)).toBeGreaterThan(0);
  });

  it("holds the room it gives until it is released, so reads woken together do not each read on the same room", async () => {
    const first = createFirstAttempts({
      attempt: async () => ({ ok: true, result: { status: 200, attempt: 1, durationMs: 1 }, body: "" }),
      concurrency: 4,
      endpointConcurrency: 2,
      retrySchedule: [1_000],
    });
    stops.push(async () => first.stop());
    // Twice the slots, to one read; the next waits for it.
    expect(await first.room(100)).toBe(8);
    let next: number | undefined;
    void first.room(100).then((n) => {
      next = n;
    });
    await sleep(20);
    expect(next).toBeUndefined();
    first.release(6);
    await waitFor(() => next !== undefined, { what: "the room given back" });
    // 2 still held: 8 - 2.
    expect(next).toBe(6);
    first.release(2 + 6);
    expect(await first.room(3)).toBe(3);
  });

  /** First attempts (4 slots, 2 per endpoint) whose every request is answered 200 when the test says (`answers`). */
  const answeredByHand = () => {
    const answers: Array<() => void> = [];
    const first = createFirstAttempts({
      attempt: () =>
        new Promise((resolve) => {
          answers.push(() => resolve({ ok: true, result: { status: 200, attempt: 1, durationMs: 1 }, body: "" }));
        }),
      concurrency: 4,
      endpointConcurrency: 2,
      retrySchedule: [1_000],
    });
    stops.push(async () => {
      first.stop();
      for (const answer of answers.splice(0)) answer();
      await first.idle();
    });
    return { first, answers };
  };

  /**
   * First attempts whose requests are answered 200 when the test says, per endpoint: `out` counts an
   * endpoint's requests out, `answerOldest` answers its oldest (and lets what that starts start).
   */
  const answeredPerEndpoint = (slots: {
    concurrency: number;
    endpointConcurrency: number;
    briskConcurrency: number;
  }) => {
    const answers: Array<{ endpoint: string; answer: () => void }> = [];
    const first = createFirstAttempts({
      attempt: (data) =>
        new Promise((resolve) => {
          const answer = () => resolve({ ok: true, result: { status: 200, attempt: 1, durationMs: 1 }, body: "" });
          answers.push({ endpoint: data.endpointId, answer });
        }),
      ...slots,
      retrySchedule: [1_000],
    });
    stops.push(async () => {
      first.stop();
      // Each answer may start a send that waited: answered too, until nothing is in hand.
      let idle = false;
      void first.idle().then(() => {
        idle = true;
      });
      while (!idle) {
        for (const { answer } of answers.splice(0)) answer();
        await sleep(1);
      }
    });
    const out = (endpoint: string) => answers.filter((a) => a.endpoint === endpoint).length;
    const answerOldest = async (endpoint: string) => {
      const i = answers.findIndex((a) => a.endpoint === endpoint);
      answers.splice(i, 1)[0]!.answer();
      await new Promise((resolve) => setImmediate(resolve));
    };
    /** Answers every request out, and those their answers start, until none is left. */
    const answerAll = async () => {
      while (answers.length > 0) {
        for (const { answer } of answers.splice(0)) answer();
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    return { first, out, answerOldest, answerAll };
  };

  it("lets an endpoint that answers briskly hold the slots the others leave idle, gives them back to another's waiting sends, and parks it once it stalls", async () => {
    const { first, out, answerOldest, answerAll } = answeredPerEndpoint({
      concurrency: 10,
      endpointConcurrency: 5,
      briskConcurrency: 8,
    });
    const sent = sendsOf("fast", 14).map((job) => first.send(job, Date.now()));
    // Nothing answered yet: its share.
    expect(out("fast")).toBe(5);
    // It answers, in 40 ms (an endpoint across a network: no request out for SLOW_ENDPOINT_MS): its
    // next sends take the idle slots, up to briskConcurrency.
    await sleep(40);
    await answerOldest("fast");
    expect(out("fast")).toBe(8);
    // Another endpoint gets what is left, and one of its sends waits for a slot.
    const other = sendsOf("other", 3).map((job) => first.send(job, Date.now()));
    expect(out("other")).toBe(2);
    // A slot the brisk endpoint frees past its share goes to the waiting send, not to its own.
    await answerOldest("fast");
    expect(out("fast")).toBe(7);
    expect(out("other")).toBe(3);
    // It stalls: found slow as any other endpoint, its sends waiting here go to the queue.
    await sleep(QUIET_ENDPOINT_MS + 60);
    expect(first.parked("acme", "fast")).toBe(true);
    await answerAll();
    const kinds = (await Promise.all(sent)).map((result) => result.kind);
    expect(kinds.filter((kind) => kind === "delivered")).toHaveLength(9);
    expect(kinds.filter((kind) => kind === "spill")).toHaveLength(5);
    expect((await Promise.all(other)).map((result) => result.kind)).toEqual(["delivered", "delivered", "delivered"]);
  });

  it("gives the worker's slots a stalled endpoint's requests held to the others once it is found slow, and still settles those requests", async () => {
    const { first, out, answerOldest } = answeredPerEndpoint({
      concurrency: 6,
      endpointConcurrency: 3,
      briskConcurrency: 5,
    });
    const stalled = sendsOf("stalled", 3).map((job) => first.send(job, Date.now()));
    const fast = sendsOf("fast", 20).map((job) => first.send(job, Date.now()));
    expect([out("stalled"), out("fast")]).toEqual([3, 3]);
    // The fast endpoint answers briskly and may hold 5, but the stalled one's share holds half the worker.
    for (let waited = 0; waited <= QUIET_ENDPOINT_MS; waited += 20) {
      await sleep(20);
      await answerOldest("fast");
      expect(out("fast")).toBe(3);
    }
    // Found slow (the dispatcher asks before routing its next delivery): its requests out give their slots back.
    expect(first.parked("acme", "stalled")).toBe(true);
    expect([out("stalled"), out("fast")]).toEqual([3, 5]);
    // Its requests end in their own time and settle as ever; the fast endpoint's all go out.
    for (const _ of [1, 2, 3]) await answerOldest("stalled");
    expect((await Promise.all(stalled)).map((result) => result.kind)).toEqual(["delivered", "delivered", "delivered"]);
    while (out("fast") > 0) await answerOldest("fast");
    expect((await Promise.all(fast)).every((result) => result.kind === "delivered")).toBe(true);
  });

  it("sends to the queue what waited for a slow endpoint's own slots when it is found so, and reads on once it answers", async () => {
    const { first, out, answerOldest } = answeredPerEndpoint({
      concurrency: 2,
      endpointConcurrency: 1,
      briskConcurrency: 1,
    });
    const kinds: Record<string, string> = {};
    const send = (endpoint: string, n: number) => {
      const [job] = sendsOf(endpoint, 1);
      void first.send(job!, Date.now()).then((result) => {
        kinds[`${endpoint}${n}`] = result.kind;
      });
    };
    // A1 and B1 out (the worker's two slots), A2 and B2 waiting for their endpoints' own, C1 for a worker slot.
    // A2 starts the sweep (every QUIET_ENDPOINT_MS / 2); B's line is made 20 ms later, out of its step.
    send("A", 1);
    send("A", 2);
    await sleep(20);
    send("B", 1);
    send("B", 2);
    send("C", 1);
    await answerOldest("A");
    expect([out("A"), out("B"), out("C")]).toEqual([1, 1, 0]);
    await sleep(QUIET_ENDPOINT_MS + 5);
    // B is found slow between two sweeps: its request out gives its slot to C1, and B2 goes to the queue
    // then, not left waiting for B's own slot once B has answered.
    expect(first.parked("acme", "B")).toBe(true);
    expect(out("C")).toBe(1);
    await answerOldest("B");
    expect(kinds.B2).toBe("spill");
    // B answered: its next delivery goes out once a worker slot frees, and the reading goes on.
    send("B", 3);
    await answerOldest("A");
    await waitFor(() => out("B") === 1, { what: "B3 out" });
    await answerOldest("B");
    await answerOldest("C");
    expect(kinds).toMatchObject({
      A1: "delivered",
      A2: "delivered",
      B1: "delivered",
      B3: "delivered",
      C1: "delivered",
    });
    expect(await first.room(4)).toBe(4);
  });

  it("says an endpoint is parked once it is found slow with its share in flight, and not after it answers", async () => {
    const { first, answers } = answeredByHand();

    expect(first.parked("acme", "slow")).toBe(false);
    const out = sendsOf("slow", 2).map((job) => first.send(job, Date.now()));
    // Its share is out, but only just: not slow yet.
    expect(first.parked("acme", "slow")).toBe(false);
    await sleep(QUIET_ENDPOINT_MS + 20);
    expect(first.parked("acme", "slow")).toBe(true);
    expect(first.parked("acme", "fast")).toBe(false);
    // What the dispatcher does with a parked endpoint's delivery is what a send of it comes to.
    expect((await first.send(sendsOf("slow", 1)[0]!, Date.now())).kind).toBe("spill");
    answers.shift()!();
    await out[0];
    await new Promise((resolve) => setImmediate(resolve));
    expect(first.parked("acme", "slow")).toBe(false);
  });
  it("knows an endpoint whose last answer was slow as slow at once when its share is out again (one send, beside another endpoint), until one is fast", async () => {
    const { first, answers } = answeredByHand();
    const answerAll = async (out: Array<Promise<unknown>>) => {
      for (const answer of answers.splice(0)) answer();
      await Promise.all(out);
      await new Promise((resolve) => setImmediate(resolve));
    };

    // Its share answers after SLOW_ENDPOINT_MS, together: its line empties.
    const out = sendsOf("slow", 2).map((job) => first.send(job, Date.now()));
    await sleep(SLOW_ENDPOINT_MS + 20);
    await answerAll(out);
    // The only endpoint with sends here: its share out again (no one else wants the slots), slow at
    // once, not QUIET_ENDPOINT_MS later. It answers slowly again.
    const alone = sendsOf("slow", 2).map((job) => first.send(job, Date.now()));
    expect(answers).toHaveLength(2);
    expect(first.parked("acme", "slow")).toBe(true);
    await sleep(SLOW_ENDPOINT_MS + 20);
    await answerAll(alone);
    // With another endpoint's send out, it has one request out at a time: the next goes to the
    // queue (whose batches have slots of their own), not into a slot the other could use.
    const other = first.send(sendsOf("fast", 1)[0]!, Date.now());
    const again = sendsOf("slow", 2).map((job) => first.send(job, Date.now()));
    expect(answers).toHaveLength(2);
    expect(first.parked("acme", "slow")).toBe(true);
    expect((await again[1])!.kind).toBe("spill");
    again.push(other);
    // It answers fast now: the next share out is not slow until it has been quiet again.
    await answerAll(again);
    const fastAgain = sendsOf("slow", 2).map((job) => first.send(job, Date.now()));
    expect(first.parked("acme", "slow")).toBe(false);
    await sleep(QUIET_ENDPOINT_MS + 20);
    expect(first.parked("acme", "slow")).toBe(true);
    await answerAll(fastAgain);
  });
});

describe("batches of a slow endpoint's overflow", () => {
  /** Entry acks on a fresh prefix, writing with no replica to wait for. */
  const entryAcks = () => {
    const keys = redisKeys(nextPrefix());
    const queues = deliveryQueues(redis, keys);
    stops.push(() => queues.close());
    const acks = createEntryAcks({
      redis,
      keys,
      queues: queues.queues as never,
      batchQueues: queues.batches,
      logger: captureLogger().logger,
      consumer: "test",
      replicaAcks: 0,
      replicaTimeoutMs: 20,
    });
    stops.push(async () => acks.stop());
    return { keys, queues, acks };
  };

  /** A first attempt's outcome: its delivery to the slow endpoint spills (to go in a batch). */
  const slowSpill = (event: ReturnType<typeof makeEvent>) => ({
    kind: "spill" as const,
    job: {
      name: "deliver" as const,
      data: { tenant: "acme", endpointId: "slow", event },
      opts: { jobId: deliveryJobId(event.id, "slow") },
      body: JSON.stringify(toPayload(event)),
    },
  });

  it("adds a batch once however often its write is retried (a replica short after the add)", async () => {
    const keys = redisKeys(nextPrefix());
    const queues = deliveryQueues(redis, keys);
    stops.push(() => queues.close());
    const { logger, lines } = captureLogger();
    // No replica answers WAIT here: every write adds its jobs, then fails, and is tried again.
    const acks = createEntryAcks({
      redis,
      keys,
      queues: queues.queues as never,
      batchQueues: queues.batches,
      logger,
      consumer: "test",
      replicaAcks: 1,
      replicaTimeoutMs: 20,
    });
    stops.push(async () => acks.stop());
    const events = Array.from({ length: 5 }, () => makeEvent({ userId: "b" }));
    const p = keys.partitionOf("acme", "b");
    const spill = (event: (typeof events)[number]) => ({
      name: "deliver" as const,
      data: { tenant: "acme", endpointId: "slow", event },
      opts: { jobId: deliveryJobId(event.id, "slow") },
      body: JSON.stringify(toPayload(event)),
    });
    const failedWrites = () => lines.filter((l) => String(l.msg).startsWith("recording settled")).length;
    acks.hold(p, "1-0", 3);
    for (const event of events.slice(0, 3)) acks.settle(p, "1-0", { kind: "spill", job: spill(event) });
    await waitFor(() => failedWrites() >= 1, { what: "a failed write" });
    // More spills of the endpoint come while the first batch's write is being retried.
    acks.hold(p, "2-0", 2);
    for (const event of events.slice(3)) acks.settle(p, "2-0", { kind: "spill", job: spill(event) });
    await waitFor(() => failedWrites() >= 3, { timeoutMs: 15_000, what: "more failed writes" });
    const jobs = (
      await Promise.all([queues.queues[p]!, queues.batches[p]!].map((q) => q.getJobs(["waiting", "active", "delayed"])))
    )
      .flat()
      .filter(Boolean);
    const ids = jobs.flatMap((job) =>
      job!.name === DELIVERY_BATCH_JOB_NAME
        ? batchDeliveries((job as unknown as Job<DeliveryBatchData>).data).map((d) => d.id)
        : [String(job!.id)],
    );
    // Each delivery in exactly one job, the first three in one batch.
    expect(ids.sort()).toEqual(events.map((e) => deliveryJobId(e.id, "slow")).sort());
    const first = jobs.find(
      (job) =>
        job!.name === DELIVERY_BATCH_JOB_NAME &&
        batchDeliveries((job as unknown as Job<DeliveryBatchData>).data).length === 3,
    );
    expect(first?.name).toBe(DELIVERY_BATCH_JOB_NAME);
    expect(acks.holds(p, "1-0")).toBe(true);
  });

  it("acks the other entries of a partition at once while one waits for its spill to make a batch", async () => {
    const { keys, queues, acks } = entryAcks();
    const [slow, fast] = [makeEvent({ userId: "c" }), makeEvent({ userId: "c" })];
    const p = keys.partitionOf("acme", "c");
    const started = Date.now();
    acks.hold(p, "1-0", 1);
    acks.settle(p, "1-0", {
      kind: "spill",
      job: {
        name: "deliver",
        data: { tenant: "acme", endpointId: "slow", event: slow },
        opts: { jobId: deliveryJobId(slow.id, "slow") },
        body: JSON.stringify(toPayload(slow)),
      },
    });
    acks.hold(p, "2-0", 1);
    acks.settle(p, "2-0", {
      kind: "delivered",
      record: {
        id: deliveryJobId(fast.id, "fast"),
        tenant: "acme",
        endpointId: "fast",
        body: JSON.stringify(toPayload(fast)),
        status: 200,
        durationMs: 1,
        readAt: started,
        finishedAt: started,
      },
    });
    await waitFor(() => !acks.holds(p, "2-0"), { what: "the entry with nothing spilled acked" });
    // Well within the spill's linger: the spilled entry is still held, and no batch is written yet.
    expect(Date.now() - started).toBeLessThan(SPILL_LINGER_MS);
    expect(acks.holds(p, "1-0")).toBe(true);
    expect(acks.backlog()).toBe(0);
    await waitFor(() => !acks.holds(p, "1-0"), { what: "the spilled entry acked once its batch is a job" });
    // A lone spill goes by reference too, as a batch of one: nothing of its event waited with it.
    const batches = await queues.batches[p]!.getJobs(["waiting"]);
    expect(batches.map((job) => job?.data)).toMatchObject([{ endpointId: "slow", entries: ["1-0"] }]);
    expect(await queues.queues[p]!.getJob(deliveryJobId(slow.id, "slow"))).toBeUndefined();
    expect(await findDelivered(redis, keys, p, deliveryJobId(fast.id, "fast"))).not.toBeNull();
  });

  it("makes a parked delivery's job only when its batch must carry the payload (its entry has another spill)", async () => {
    const { keys, queues, acks } = entryAcks();
    const events = Array.from({ length: 3 }, () => makeEvent({ userId: "d" }));
    const p = keys.partitionOf("acme", "d");
    const made: string[] = [];
    const parked = (event: (typeof events)[number], endpointId: string) => {
      const id = deliveryJobId(event.id, endpointId);
      return {
        endpointId,
        raw: false,
        job: () => {
          made.push(id);
          return {
            name: "deliver" as const,
            data: { tenant: "acme", endpointId, event },
            opts: { jobId: id },
            body: JSON.stringify(toPayload(event)),
          };
        },
      };
    };
    // Entries 1-0 and 2-0 go to two parked endpoints each; 3-0 to one of them only.
    for (const [entry, event] of [
      ["1-0", events[0]!],
      ["2-0", events[1]!],
    ] as const) {
      acks.hold(p, entry, 0, { tenant: "acme", deliveries: [parked(event, "slow-a"), parked(event, "slow-b")] });
    }
    acks.hold(p, "3-0", 0, { tenant: "acme", deliveries: [parked(events[2]!, "slow-a")] });
    await waitFor(() => !acks.holds(p, "1-0") && !acks.holds(p, "3-0"), { what: "the entries acked" });
    const batches = (await queues.batches[p]!.getJobs(["waiting"])).map((job) => job!.data as DeliveryBatchData);
    const carried = batches
      .filter((data) => data.packed !== undefined)
      .flatMap(batchDeliveries)
      .map((d) => [d.id, JSON.parse(d.body).data.userId]);
    // The first two entries' deliveries carry their payloads (an entry with two spills is referred to by neither).
    expect(carried.sort()).toEqual(
      [events[0]!, events[1]!]
        .flatMap((event) => ["slow-a", "slow-b"].map((endpoint) => [deliveryJobId(event.id, endpoint), "d"]))
        .sort(),
    );
    expect(batches.filter((data) => data.entries !== undefined).map((data) => data.entries)).toEqual([["3-0"]]);
    // Only those four jobs were made: 3-0's delivery went by reference.
    expect(made.sort()).toEqual(carried.map(([id]) => id).sort());
  });

  it("writes an endpoint's parked deliveries as one batch that refers to their entries, more than a packed batch holds", async () => {
    const { keys, queues, acks } = entryAcks();
    const p = keys.partitionOf("acme", "g");
    const entries = Array.from({ length: DELIVERY_BATCH_MAX + 50 }, (_, i) => `${i + 1}-0`);
    const made: string[] = [];
    const parked = (endpointId: string) => ({
      endpointId,
      raw: false,
      job: () => {
        made.push(endpointId);
        throw new Error("a delivery by reference needs no job");
      },
    });
    // Every other entry also has a first attempt out: its parked delivery waits for it.
    for (const [i, entry] of entries.entries()) {
      acks.hold(p, entry, i % 2, { tenant: "acme", deliveries: [parked("slow")] });
    }
    const [alone, beside] = [entries.filter((_, i) => i % 2 === 0), entries.filter((_, i) => i % 2 === 1)];
    await waitFor(() => alone.every((entry) => !acks.holds(p, entry)), { what: "the entries with nothing out acked" });
    expect(beside.every((entry) => acks.holds(p, entry))).toBe(true);
    const first = (await queues.batches[p]!.getJobs(["waiting"])).map((job) => job!.data as DeliveryBatchData);
    expect(first).toMatchObject([{ endpointId: "slow", entries: alone }]);
    for (const entry of beside) {
      const at = Date.now();
      acks.settle(p, entry, {
        kind: "delivered",
        record: {
          id: `${entry}.fast`,
          tenant: "acme",
          endpointId: "fast",
          body: "{}",
          status: 200,
          durationMs: 1,
          readAt: at,
          finishedAt: at,
        },
      });
    }
    await waitFor(() => beside.every((entry) => !acks.holds(p, entry)), { what: "the others acked" });
    const batches = (await queues.batches[p]!.getJobs(["waiting"])).map((job) => job!.data as DeliveryBatchData);
    // Two jobs, one per linger: ids cost them a few bytes each, and a batch reads its entries only as it sends them.
    expect(batches.map((data) => data.entries).sort()).toEqual([alone, beside].sort());
    expect(made).toEqual([]);
  });

  /** A batch processor on a fresh prefix, sending to one endpoint (`slow`, at `sink`) with `endpointConcurrency` slots. */
  const batchProcessor = async (answerMs: number, endpointConcurrency: number) => {
    const prefix = nextPrefix();
    const keys = redisKeys(prefix);
    const queues = deliveryQueues(redis, keys);
    stops.push(() => queues.close());
    const sink = await startSink((_req, res) => setTimeout(() => res.end("ok"), answerMs));
    stops.push(() => sink.close());
    const config = makeConfig(prefix, [{ id: "slow", url: sink.url }]);
    const agent = createDeliveryAgent({ allowPrivateNetworks: true, timeoutMs: 2000 });
    stops.push(() => agent.close());
    const metrics = workerMetrics(new Registry());
    const attempt = createAttempt({ config, redis, keys, logger: captureLogger().logger, metrics, dispatcher: agent });
    const process = createBatchProcessor({
      config,
      attempt,
      redis,
      keys,
      queues: queues.queues as never,
      endpointConcurrency,
    });
    const stream = keys.ingest(0);
    /** A batch job (in partition 0's batch queue) referring to new entries of `events`. */
    const batchOf = async (events: ReturnType<typeof makeEvent>[]) => {
      const entries: string[] = [];
      for (const event of events) entries.push((await redis.xadd(stream, "*", "e", JSON.stringify(event)))!);
      const data: DeliveryBatchData = { tenant: "acme", endpointId: "slow", partition: 0, entries };
      const job = await queues.batches[0]!.add(DELIVERY_BATCH_JOB_NAME, data);
      return { job: job as unknown as Job<DeliveryBatchData>, entries };
    };
    return { queues, sink, stream, process, batchOf };
  };

  it("reads a batch's entries as its deliveries reach their slots: one settled elsewhere meanwhile is not sent", async () => {
    // With one slot and answers after 50 ms, the batch's 33rd delivery reaches its slot 1.6 s after the first.
    const { queues, sink, stream, process, batchOf } = await batchProcessor(50, 1);
    const events = Array.from({ length: 40 }, () => makeEvent({ userId: "h" }));
    const { job, entries } = await batchOf(events);
    const done = process(job);
    await waitFor(() => sink.requests.length >= 1, { what: "the batch's first delivery" });
    // Settled another way after the batch began (a dispatcher that claimed them queued their deliveries): gone.
    await redis.xdel(stream, ...entries.slice(33));
    expect(await done).toEqual({ delivered: 33, queued: 0 });
    expect(sink.requests.map((request) => request.headers["webhook-id"])).toEqual(
      events.slice(0, 33).map((event) => event.id),
    );
    // Each delivered one's entry is released, and the job's progress counts every one done.
    expect(await redis.xlen(stream)).toBe(0);
    expect((await queues.batches[0]!.getJob(job.id!))?.progress).toBe(40);
  });

  it("sends an endpoint's batches in the order they were taken, one after the other through its slots", async () => {
    const { sink, process, batchOf } = await batchProcessor(5, 2);
    const events = Array.from({ length: 12 }, () => makeEvent({ userId: "i" }));
    const [first, second] = [await batchOf(events.slice(0, 6)), await batchOf(events.slice(6))];
    expect(await Promise.all([process(first.job), process(second.job)])).toEqual([
      { delivered: 6, queued: 0 },
      { delivered: 6, queued: 0 },
    ]);
    const sent = sink.requests.map((request) =>
      events.findIndex((event) => event.id === request.headers["webhook-id"]),
    );
    // Two slots: each delivery goes out at most one place from its turn, and the first batch's before the second's.
    expect(sent.slice(0, 6).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(sent.slice(6).sort((a, b) => a - b)).toEqual([6, 7, 8, 9, 10, 11]);
  });

  it("writes a lone spill as a job of its own while everything must be written, and by reference again once it is", async () => {
    const { keys, queues, acks } = entryAcks();
    const [before, after] = [makeEvent({ userId: "e" }), makeEvent({ userId: "e" })];
    const p = keys.partitionOf("acme", "e");
    // A hand-back: something waits for everything to be written while the entry is in hand.
    acks.hold(p, "1-0", 1);
    const drained = acks.drained();
    acks.settle(p, "1-0", slowSpill(before));
    await drained;
    expect(await queues.queues[p]!.getJob(deliveryJobId(before.id, "slow"))).toBeDefined();
    // Afterwards a lone spill lingers for its batch again, and the batch refers to its entry.
    acks.hold(p, "2-0", 1);
    acks.settle(p, "2-0", slowSpill(after));
    await waitFor(() => !acks.holds(p, "2-0"), { what: "the entry acked once its batch is written" });
    const batches = await queues.batches[p]!.getJobs(["waiting"]);
    expect(batches.map((job) => job?.data)).toMatchObject([{ endpointId: "slow", entries: ["2-0"] }]);
    expect(await queues.queues[p]!.getJob(deliveryJobId(after.id, "slow"))).toBeUndefined();
  });

  it("finds an entry lingering by reference for its batch as in hand, and one newer than any it had as not", async () => {
    const { keys, acks } = entryAcks();
    const p = keys.partitionOf("acme", "r");
    const parked = { endpointId: "slow", raw: false, job: () => expect.unreachable("no job by reference") as never };
    acks.hold(p, "1764739200123-7", 0, { tenant: "acme", deliveries: [parked] });
    // Lingering for its batch (a second): in no set, only in its endpoint's list.
    expect(acks.holdsAtOnce(p, "1764739200123-7")).toBe(true);
    expect(acks.holds(p, "1764739200123-7")).toBe(true);
    expect(acks.size()).toBe(1);
    expect(acks.holdsAtOnce(p, "1764739200123-6")).toBe(false);
    expect(acks.holdsAtOnce(p, "1764739200123-10")).toBe(false);
    expect(acks.holdsAtOnce(p, "1764739200124-0")).toBe(false);
  });

  it("keeps in the stream the entries a batch written while everything must be written refers to", async () => {
    const { keys, queues, acks } = entryAcks();
    const [one, two] = [makeEvent({ userId: "k" }), makeEvent({ userId: "k" })];
    const p = keys.partitionOf("acme", "k");
    const stream = keys.ingest(p);
    const entries = [
      (await redis.xadd(stream, "*", "e", JSON.stringify(one)))!,
      (await redis.xadd(stream, "*", "e", JSON.stringify(two)))!,
    ];
    for (const entry of entries) acks.hold(p, entry, 1);
    // A hand-back while both are out: the two lone spills of one endpoint go in one batch that refers to their entries.
    const drained = acks.drained();
    acks.settle(p, entries[0]!, slowSpill(one));
    acks.settle(p, entries[1]!, slowSpill(two));
    await drained;
    const batches = (await queues.batches[p]!.getJobs(["waiting"])).map((job) => job!.data as DeliveryBatchData);
    expect(batches).toMatchObject([{ endpointId: "slow", entries }]);
    // Acked, not deleted: the batch reads them when it sends their deliveries.
    expect((await redis.xrange(stream, "-", "+")).map(([id]) => id)).toEqual(entries);
    expect(acks.size()).toBe(0);
    expect(entries.some((entry) => acks.holds(p, entry))).toBe(false);
  });

  it("turns what is left of a batch that failed for good into jobs of their own, by reference, packed or as written before", async () => {
    const keys = redisKeys(nextPrefix());
    const events = [makeEvent(), makeEvent(), makeEvent(), makeEvent()];
    const deliveries = events.map((event) => ({
      id: deliveryJobId(event.id, "slow"),
      body: JSON.stringify(toPayload(event)),
    }));
    const stream = keys.ingest(0);
    const entries: string[] = [];
    for (const event of events) entries.push((await redis.xadd(stream, "*", "e", JSON.stringify(event)))!);
    // The fourth entry is gone: its delivery was settled another way. A fifth cannot be read: only deleted.
    await redis.xdel(stream, entries[3]!);
    entries.push((await redis.xadd(stream, "*", "e", "not JSON"))!);
    const base = { tenant: "acme", endpointId: "slow", partition: 0 };
    const deps = { redis, keys, jobOptions: { attempts: 8 } };
    for (const data of [
      { ...base, entries },
      { ...base, packed: packBatch(deliveries.slice(0, 3)) },
      { ...base, deliveries: deliveries.slice(0, 3) },
    ]) {
      const left = await batchRemainder({ progress: 1, data }, deps);
      expect(left.jobs.map((job) => job.opts.jobId)).toEqual(
        events.slice(1, 3).map((e) => deliveryJobId(e.id, "slow")),
      );
      expect(left.jobs[0]!.data).toEqual({
        tenant: "acme",
        endpointId: "slow",
        event: JSON.parse(JSON.stringify(events[1])),
      });
      expect(left.jobs[0]!.opts.attempts).toBe(8);
      expect(left.released).toEqual("entries" in data ? [entries[1], entries[2], entries[4]] : []);
    }
  });
});
