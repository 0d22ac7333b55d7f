import type { ImrelayConfig } from "@imrelay/config";
import { toPayload } from "@imrelay/core";
import {
  type DeliveryJobData,
  type DeliveryJobState,
  deliveryJobId,
  deliveryJobOptions,
  disableEndpoint,
  enableEndpoint,
  listDisabledEndpoints,
} from "@imrelay/store";
import type { Job } from "bullmq";
import { Registry } from "prom-client";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { startWorker } from "../src/index.js";
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
  streamOf,
  testFile,
  waitFor,
} from "./helpers.js";

const { redis, stops, nextPrefix } = testFile();

/** A sink, a running worker (dispatcher + delivery) with its own prefix, and a queue to look at its jobs. */
async function harness(
  endpoints: (sink: Sink) => EndpointInput[],
  { delivery = {}, answer }: { delivery?: Record<string, unknown>; answer?: Parameters<typeof startSink>[0] } = {},
) {
  const prefix = nextPrefix();
  const keys = redisKeys(prefix);
  const sink = await startSink(answer);
  stops.push(() => sink.close());
  const config: ImrelayConfig = makeConfig(prefix, endpoints(sink), delivery);
  const { logger, lines } = captureLogger();
  const registry = new Registry();
  const worker = await startWorker({ config, logger, registry, redisUrl: REDIS_URL, dispatcher: { blockMs: 200 } });
  stops.push(() => worker.close());
  const queue = deliveryQueues(redis, keys);
  stops.push(() => queue.close());
  const job = (eventId: string, endpointId = "presence") =>
    queue.getJob(deliveryJobId(eventId, endpointId)) as Promise<Job<DeliveryJobState> | undefined>;
  const stateOf = (eventId: string, endpointId = "presence") => queue.getJobState(deliveryJobId(eventId, endpointId));
  return { prefix, keys, sink, config, lines, registry, queue, job, stateOf };
}

const bodyOf = (sink: Sink, index: number) => JSON.parse(sink.requests[index]!.body) as Record<string, unknown>;

describe("delivery", () => {
  it("POSTs the event as a Standard Webhooks signed payload that the receiver can verify", async () => {
    const h = await harness((sink) => [{ id: "presence", url: `${sink.url}/hooks/presence?token=abc123` }]);
    const event = makeEvent();
    await publish(redis, h.keys, event);

    await waitFor(() => h.sink.requests.length === 1, { what: "the delivery" });
    const request = h.sink.requests[0]!;
    expect(request.url).toBe("/hooks/presence?token=abc123");
    expect(request.body).toBe(JSON.stringify(toPayload(event)));
    expect(request.headers["content-type"]).toBe("application/json");
    expect(request.headers["user-agent"]).toBe("imrelay/0.1");
    expect(request.headers["webhook-id"]).toBe(event.id);
    expect(Math.abs(Number(request.headers["webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(5);
    const verified = new Webhook(SECRET).verify(request.body, request.headers as Record<string, string>);
    expect(verified).toEqual({ type: event.type, timestamp: event.occurredAt, data: event });

    await waitFor(async () => (await h.stateOf(event.id)) === "completed", { what: "the job to complete" });
    expect(await ingestBacklog(redis, h.keys)).toEqual({ entries: 0, pending: 0 });
  });

  it("logs one line per attempt and counts it in the metrics, without the URL's query or the secret", async () => {
    const h = await harness((sink) => [{ id: "presence", url: `${sink.url}/hooks?token=abc123` }]);
    const event = makeEvent();
    await publish(redis, h.keys, event);
    await waitFor(async () => (await h.stateOf(event.id)) === "completed", { what: "the job to complete" });

    const attempts = h.lines.filter((line) => line.eventId === event.id && "outcome" in line);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({
      level: 30,
      tenant: "acme",
      endpoint: "presence",
      eventId: event.id,
      attempt: 1,
      outcome: "2xx",
      status: 200,
    });
    expect(typeof attempts[0]!.durationMs).toBe("number");
    const everything = JSON.stringify(h.lines);
    expect(everything).not.toContain("abc123");
    expect(everything).not.toContain(SECRET.slice(6));

    const text = await h.registry.metrics();
    expect(text).toContain('imrelay_deliveries_total{tenant="acme",endpoint="presence",outcome="2xx"} 1');
    expect(text).toContain('imrelay_delivery_duration_seconds_count{tenant="acme",endpoint="presence"} 1');
    expect(text).toContain('imrelay_event_age_seconds_count{tenant="acme"} 1');
  });

  it("fans an event out to each endpoint whose filters want it, raw only where includeRaw is set", async () => {
    const h = await harness((sink) => [
      { id: "all", url: `${sink.url}/all` },
      { id: "also", url: `${sink.url}/also` },
      { id: "offline-only", url: `${sink.url}/offline-only`, events: ["user.offline"] },
      { id: "changes", url: `${sink.url}/changes`, changesOnly: true },
      { id: "raw", url: `${sink.url}/raw`, includeRaw: true },
      { id: "off", url: `${sink.url}/off`, enabled: false },
    ]);
    const raw = { body: { CallbackCommand: "State.StateChange" }, query: { SdkAppid: "1400000000" } };
    const online = makeEvent({ type: "user.online", changed: false });
    await publish(redis, h.keys, online, raw);

    await waitFor(() => h.sink.requests.length === 3, { what: "three deliveries" });
    await sleep(200);
    const paths = h.sink.requests.map((request) => request.url).sort();
    expect(paths).toEqual(["/all", "/also", "/raw"]);
    for (const skipped of ["offline-only", "changes", "off"]) expect(await h.job(online.id, skipped)).toBeUndefined();
    const byPath = (path: string) =>
      bodyOf(
        h.sink,
        h.sink.requests.findIndex((request) => request.url === path),
      );
    expect((byPath("/raw").data as Record<string, unknown>).raw).toEqual(raw);
    expect(byPath("/all").data).not.toHaveProperty("raw");

    const offline = makeEvent({ type: "user.offline", status: "offline", reason: "logout", changed: true });
    await publish(redis, h.keys, offline, raw);
    await waitFor(() => h.sink.requests.length === 8, { what: "five more deliveries" });
    const second = h.sink.requests.slice(3).map((request) => request.url);
    expect(second.sort()).toEqual(["/all", "/also", "/changes", "/offline-only", "/raw"]);
  });

  it("signs with both secrets while one rotates, so a receiver with either verifies every delivery", async () => {
    const NEW = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const h = await harness((sink) => [{ id: "presence", url: sink.url, secret: [NEW, SECRET] }]);
    const event = makeEvent();
    await publish(redis, h.keys, event);

    await waitFor(() => h.sink.requests.length === 1, { what: "the delivery" });
    const { body, headers } = h.sink.requests[0]!;
    expect(String(headers["webhook-signature"]).split(" ")).toHaveLength(2);
    const payload = { type: event.type, timestamp: event.occurredAt, data: event };
    // A receiver that switched to the new secret, and one still on the old.
    expect(new Webhook(NEW).verify(body, headers as Record<string, string>)).toEqual(payload);
    expect(new Webhook(SECRET).verify(body, headers as Record<string, string>)).toEqual(payload);
    expect(JSON.stringify(h.lines)).not.toContain(NEW.slice(6));
  });

  it("delivers only the events an endpoint's filter matches, and counts the others per endpoint", async () => {
    const h = await harness((sink) => [
      {
        id: "mobile",
        url: `${sink.url}/mobile`,
        filter: { platform: { $in: ["ios", "android"] }, provider: "tencent" },
      },
      { id: "all", url: `${sink.url}/all` },
    ]);
    const ios = makeEvent({ platform: "ios" });
    const web = makeEvent({ platform: "web" });
    const openimAndroid = makeEvent({ platform: "android", provider: "openim" });
    for (const event of [ios, web, openimAndroid]) await publish(redis, h.keys, event);

    await waitFor(() => h.sink.requests.length === 4, { what: "four deliveries" });
    await sleep(200);
    const to = (path: string) =>
      h.sink.requests.filter((request) => request.url === path).map((request) => request.headers["webhook-id"]);
    expect(to("/mobile")).toEqual([ios.id]);
    expect(to("/all").sort()).toEqual([ios.id, web.id, openimAndroid.id].sort());
    expect(await h.job(web.id, "mobile")).toBeUndefined();

    const text = await h.registry.metrics();
    expect(text).toContain('imrelay_events_filtered_total{tenant="acme",endpoint="mobile"} 2');
    expect(text).not.toContain('imrelay_events_filtered_total{tenant="acme",endpoint="all"}');
  });

  it("retries a failing endpoint on the schedule and signs every attempt with the same webhook-id", async () => {
    const h = await harness((sink) => [{ id: "presence", url: sink.url }], {
      answer: (_req, res, index) => {
        res.statusCode = index < 2 ? 500 : 200;
        res.end(index < 2 ? "busy" : "ok");
      },
    });
    const event = makeEvent();
    await publish(redis, h.keys, event);

    await waitFor(async () => (await h.stateOf(event.id)) === "completed", { what: "the job to complete" });
    expect(h.sink.requests).toHaveLength(3);
    for (const request of h.sink.requests) {
      expect(request.headers["webhook-id"]).toBe(event.id);
      expect(() => new Webhook(SECRET).verify(request.body, request.headers as Record<string, string>)).not.toThrow();
    }
    // 50 ms ± 20 % between attempts.
    expect(h.sink.requests[1]!.at - h.sink.requests[0]!.at).toBeGreaterThanOrEqual(35);
    const job = await h.job(event.id);
    expect(job?.returnvalue).toMatchObject({ status: 200, attempt: 3 });
    const outcomes = h.lines.filter((line) => line.eventId === event.id && "outcome" in line);
    expect(outcomes.map((line) => [line.attempt, line.outcome, line.status, line.level])).toEqual([
      [1, "5xx", 500, 40],
      [2, "5xx", 500, 40],
      [3, "2xx", 200, 30],
    ]);
  });

  it("disables an endpoint that answers 410 Gone and stops retrying it", async () => {
    const h = await harness((sink) => [{ id: "presence", url: sink.url }], {
      answer: (_req, res) => {
        res.statusCode = 410;
        res.end("gone");
      },
    });
    const event = makeEvent();
    await publish(redis, h.keys, event);

    await waitFor(async () => (await h.stateOf(event.id)) === "failed", { what: "the job to fail" });
    const job = (await h.job(event.id))!;
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toBe("HTTP 410 from endpoint presence: endpoint disabled");
    expect(h.sink.requests).toHaveLength(1);
    const disabled = await listDisabledEndpoints(redis, h.keys);
    expect(disabled).toEqual([{ tenant: "acme", endpointId: "presence", at: expect.any(String), reason: "410 Gone" }]);

    // While disabled, new events become dead letters without a request, so they can be replayed later.
    const next = makeEvent();
    await publish(redis, h.keys, next);
    await waitFor(async () => (await h.stateOf(next.id)) === "failed", { what: "the next event's dead letter" });
    expect((await h.job(next.id))!.failedReason).toBe("endpoint disabled");
    await sleep(200);
    expect(h.sink.requests).toHaveLength(1);
  });

  it("waits as long as Retry-After asks when an endpoint answers 429", async () => {
    const h = await harness((sink) => [{ id: "presence", url: sink.url }], {
      delivery: { retrySchedule: [50, 2_000] },
      answer: (_req, res, index) => {
        if (index === 0) {
          res.writeHead(429, { "retry-after": "1" });
          res.end("slow down");
        } else res.end("ok");
      },
    });
    const event = makeEvent();
    await publish(redis, h.keys, event);

    await waitFor(async () => (await h.stateOf(event.id)) === "completed", { what: "the job to complete" });
    expect(h.sink.requests).toHaveLength(2);
    expect(h.sink.requests[1]!.at - h.sink.requests[0]!.at).toBeGreaterThanOrEqual(1000);
  });

  it("keeps the schedule's spacing when an endpoint answers 429 with Retry-After: 0", async () => {
    const step = 300;
    const h = await harness((sink) => [{ id: "presence", url: sink.url }], {
      delivery: { retrySchedule: [step, step, step] },
      answer: (_req, res) => {
        res.writeHead(429, { "retry-after": "0" });
        res.end("slow down");
      },
    });
    const event = makeEvent();
    await publish(redis, h.keys, event);

    await waitFor(async () => (await h.stateOf(event.id)) === "failed", { what: "the dead letter" });
    expect(h.sink.requests).toHaveLength(4);
    const gaps = h.sink.requests.slice(1).map((request, i) => request.at - h.sink.requests[i]!.at);
    // The step less its largest jitter (-20 %): Retry-After: 0 shortens nothing.
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(step * 0.8);
  });

  it("counts an endpoint that does not answer within timeoutMs as a failed attempt", async () => {
    const h = await harness((sink) => [{ id: "presence", url: sink.url }], {
      delivery: { timeoutMs: 300 },
      answer: (_req, res, index) => {
        if (index > 0) res.end("ok");
      },
    });
    const event = makeEvent();
    await publish(redis, h.keys, event);

    await waitFor(async () => (await h.stateOf(event.id)) === "completed", { what: "the job to complete" });
    expect(h.sink.requests).toHaveLength(2);
    const job = (await h.job(event.id))!;
    expect(job.data.lastResponse).toMatchObject({ status: null, error: "TIMEOUT", attempt: 1 });
    const first = h.lines.find((line) => line.eventId === event.id && line.attempt === 1 && "outcome" in line);
    expect(first).toMatchObject({ outcome: "timeout", status: null });
    expect(await h.registry.metrics()).toContain(
      'imrelay_deliveries_total{tenant="acme",endpoint="presence",outcome="timeout"} 1',
    );
  });

  it("cuts off an answer whose body keeps trickling past timeoutMs, so it holds no slot longer", async () => {
    const timeoutMs = 600;
    let cut = 0;
    const h = await harness((sink) => [{ id: "presence", url: sink.url }], {
      delivery: { timeoutMs },
      answer: (_req, res) => {
        // Headers at once, then a byte every 100 ms: each chunk is in time, the whole body is not.
        res.writeHead(200, { "content-type": "text/plain" });
        const started = Date.now();
        const drip = setInterval(() => res.write("."), 100);
        res.on("close", () => {
          clearInterval(drip);
          cut = Date.now() - started;
        });
      },
    });
    const event = makeEvent();
    await publish(redis, h.keys, event);

    // The status came in time: delivered, once; the body was cut off at the deadline (swept every 250 ms).
    await waitFor(async () => (await h.stateOf(event.id)) === "completed", { what: "the delivery" });
    await waitFor(() => cut > 0, { what: "the connection to be cut" });
    expect(cut).toBeGreaterThanOrEqual(timeoutMs - 50);
    expect(cut).toBeLessThan(timeoutMs + 250 + 400);
    expect(h.sink.requests).toHaveLength(1);
  });

  it("leaves a delivery that failed every attempt in the failed set with its last response, replayable", async () => {
    let healthy = false;
    const h = await harness((sink) => [{ id: "presence", url: sink.url }], {
      answer: (_req, res) => {
        res.statusCode = healthy ? 200 : 500;
        res.end(healthy ? "ok" : "x".repeat(2000));
      },
    });
    const event = makeEvent();
    await publish(redis, h.keys, event);

    await waitFor(async () => (await h.stateOf(event.id)) === "failed", { what: "the job to fail" });
    const failed = await h.queue.getFailed();
    expect(failed.map((job) => job.id)).toEqual([deliveryJobId(event.id, "presence")]);
    const job = failed[0]!;
    // The first attempt went out straight from the stream; the job made the other two.
    expect(job.data.priorAttempts).toBe(1);
    expect(job.attemptsMade).toBe(2);
    expect(job.failedReason).toBe("HTTP 500 from endpoint presence");
    expect(job.data.lastResponse).toEqual({
      status: 500,
      bodyExcerpt: "x".repeat(512),
      error: "HTTP_ERROR",
      attempt: 3,
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(h.sink.requests).toHaveLength(3);

    healthy = true;
    await job.retry("failed", { resetAttemptsMade: true });
    await waitFor(async () => (await h.stateOf(event.id)) === "completed", { what: "the replay to complete" });
    expect(h.sink.requests).toHaveLength(4);
    expect(h.sink.requests[3]!.headers["webhook-id"]).toBe(event.id);
  });

  it("fails a queued job of a disabled endpoint as a dead letter without calling it, and delivers it once enabled", async () => {
    const h = await harness((sink) => [{ id: "presence", url: sink.url }]);
    await disableEndpoint(redis, h.keys, "acme", "presence", "paused by an admin");
    const event = makeEvent();
    // Queued before the endpoint was disabled, as the dispatcher would have.
    const data: DeliveryJobData = { tenant: "acme", endpointId: "presence", event };
    await h.queue.of(event).add("deliver", data, {
      ...deliveryJobOptions(h.config.delivery),
      jobId: deliveryJobId(event.id, "presence"),
    });

    await waitFor(async () => (await h.stateOf(event.id)) === "failed", { what: "the job to fail" });
    const job = (await h.job(event.id))!;
    expect(job.failedReason).toBe("endpoint disabled");
    expect(job.attemptsMade).toBe(1);
    expect(h.sink.requests).toHaveLength(0);

    expect(await enableEndpoint(redis, h.keys, "acme", "presence")).toBe(true);
    expect(await listDisabledEndpoints(redis, h.keys)).toEqual([]);
    await job.retry("failed", { resetAttemptsMade: true });
    await waitFor(async () => (await h.stateOf(event.id)) === "completed", { what: "the replay to complete" });
    expect(h.sink.requests).toHaveLength(1);
  });

  it("acks and logs a stream entry that cannot be read or names an unknown tenant, and keeps dispatching", async () => {
    const h = await harness((sink) => [{ id: "presence", url: sink.url }]);
    const good = makeEvent();
    // In the good event's partition, so the dispatcher must read past them to reach it.
    await redis.xadd(streamOf(h.keys, good), "*", "e", "{not json");
    await publish(redis, h.keys, makeEvent({ tenant: "ghost" }));
    await publish(redis, h.keys, good);

    await waitFor(async () => (await h.stateOf(good.id)) === "completed", { what: "the good event's delivery" });
    // The ghost's entry may sit in another partition, read by a loop of its own.
    await waitFor(async () => (await ingestBacklog(redis, h.keys)).entries === 0, { what: "every entry acked" });
    expect(await ingestBacklog(redis, h.keys)).toEqual({ entries: 0, pending: 0 });
    expect(
      h.lines.some((line) => line.msg === "dropping unreadable ingest entry" && line.reason === "event is not JSON"),
    ).toBe(true);
    expect(h.lines.some((line) => line.msg === "dropping event of unknown tenant" && line.tenant === "ghost")).toBe(
      true,
    );
    expect(h.sink.requests).toHaveLength(1);
  });

  it("registers its metrics once when two workers share a registry", async () => {
    const h = await harness((sink) => [{ id: "presence", url: sink.url }]);
    const second = await startWorker({
      config: h.config,
      logger: captureLogger().logger,
      registry: h.registry,
      redisUrl: REDIS_URL,
      dispatcher: { blockMs: 200 },
    });
    stops.push(() => second.close());
    const event = makeEvent();
    await publish(redis, h.keys, event);
    await waitFor(async () => (await h.stateOf(event.id)) === "completed", { what: "the job to complete" });
    expect(await h.registry.metrics()).toContain(
      'imrelay_deliveries_total{tenant="acme",endpoint="presence",outcome="2xx"} 1',
    );
  });

  it("lets a delivery in flight finish when the worker is closed", async () => {
    const prefix = nextPrefix();
    const keys = redisKeys(prefix);
    const sink = await startSink((_req, res) => {
      setTimeout(() => res.end("ok"), 500);
    });
    stops.push(() => sink.close());
    const worker = await startWorker({
      config: makeConfig(prefix, [{ id: "presence", url: sink.url }]),
      logger: captureLogger().logger,
      registry: new Registry(),
      redisUrl: REDIS_URL,
      dispatcher: { blockMs: 200 },
    });
    const event = makeEvent();
    await publish(redis, keys, event);
    await waitFor(() => sink.requests.length === 1, { what: "the delivery to start" });

    await worker.close();
    const queue = deliveryQueues(redis, keys);
    stops.push(() => queue.close());
    expect(await queue.getJobState(deliveryJobId(event.id, "presence"))).toBe("completed");
    for (let p = 0; p < keys.partitions; p++) {
      const consumers = (await redis.xinfo("CONSUMERS", keys.ingest(p), keys.ingestGroup)) as unknown[];
      expect(consumers).toHaveLength(0);
    }
  });
});
