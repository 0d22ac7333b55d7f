import { deliveryJobId, findDelivered, redisKeys } from "@imrelay/store";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
  dropPrefix,
  newPrefix,
  newSecret,
  postTencent,
  type Relay,
  redisClient,
  sleep,
  startRelay,
  startSink,
  tencentRequest,
  waitFor,
} from "../src/harness.js";
import { type ReceivedSpan, startOtlpReceiver } from "../src/otlp-receiver.js";

/**
 * Tracing as an operator turns it on: the standard OTEL_* variables, a real
 * OTLP/HTTP receiver on loopback, real `imrelay` processes, a real Tencent
 * callback delivered to a real sink.
 */
const redis = redisClient();
const TOKEN = "tencent-token-never-in-a-span";
const QUERY_TOKEN = "endpoint-query-token-never-in-a-span";
const USER = "tracing-user-316";
const SDK_APP_ID = "1400000000";

/** Every OTEL_* variable the relay reads, emptied (an empty variable counts as unset). */
const NO_OTEL = Object.fromEntries(
  [
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_SERVICE_NAME",
  ].map((name) => [name, ""]),
);

const relays: Relay[] = [];
const prefixes: string[] = [];
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const relay of relays.splice(0)) await relay.stop();
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

afterAll(async () => {
  for (const prefix of prefixes) await dropPrefix(redis, prefix);
  redis.disconnect();
});

async function setUp(answer?: (n: number) => { status: number }) {
  const prefix = newPrefix();
  prefixes.push(prefix);
  const secret = newSecret();
  const sink = await startSink(secret, answer ? (n) => answer(n) : undefined);
  const receiver = await startOtlpReceiver();
  cleanups.push(
    () => sink.close(),
    () => receiver.close(),
  );
  const config = {
    redis: { prefix },
    tenants: {
      acme: {
        tencent: { sdkAppId: SDK_APP_ID, callbackToken: "${ACME_TENCENT_TOKEN}" },
        endpoints: [{ id: "presence", url: `${sink.url}?token=${QUERY_TOKEN}`, secret }],
      },
    },
    delivery: { allowPrivateNetworks: true, retrySchedule: ["200ms"], timeoutMs: 2000 },
  };
  return { prefix, secret, sink, receiver, config };
}

async function callback(relay: Relay) {
  const request = tencentRequest({ token: TOKEN, user: USER, sdkAppId: SDK_APP_ID });
  const answer = await postTencent(relay.url, "acme", request);
  expect(answer.status).toBe(200);
  return request;
}

/**
 * What the delivery carried: its job's data, or, for a delivery that succeeded at its first
 * attempt (sent straight from the stream, no job), its record in the delivered log.
 */
async function jobData(prefix: string, eventId: string) {
  // Both are in the user's partition (the config's default count).
  const keys = redisKeys(prefix);
  const p = keys.partitionOf("acme", USER);
  // Waited for: a first attempt's log record is written just after the sink has answered it.
  return waitFor(
    async () => {
      const data = await redis.hget(`${keys.partitionPrefix(p)}:deliveries:${eventId}.presence`, "data");
      if (data) return JSON.parse(data) as { traceparent?: string };
      const record = await findDelivered(redis, keys, p, deliveryJobId(eventId, "presence"));
      return record && (record.traceparent === undefined ? {} : { traceparent: record.traceparent });
    },
    5_000,
    "the delivery's job or log record",
  );
}

const byName = (spans: ReceivedSpan[], name: string) => spans.filter((span) => span.name === name);

describe("tracing on (OTEL_EXPORTER_OTLP_ENDPOINT set)", () => {
  it("exports the callback, its enqueue and every delivery attempt as one trace", async () => {
    const { prefix, secret, sink, receiver, config } = await setUp((n) => ({ status: n === 1 ? 500 : 200 }));
    const relay = await startRelay({
      config,
      env: {
        ...NO_OTEL,
        ACME_TENCENT_TOKEN: TOKEN,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_SERVICE_NAME: "imrelay-e2e",
        OTEL_BSP_SCHEDULE_DELAY: "100",
      },
    });
    relays.push(relay);
    const request = await callback(relay);

    await waitFor(() => sink.received.length >= 2, 15_000, "a failed attempt, then a delivered one");
    const eventId = sink.ids()[1]!;
    const spans = await waitFor(
      () => {
        const all = receiver.spans();
        return byName(all, "deliver").length >= 2 && byName(all, "enqueue").length >= 1 ? all : undefined;
      },
      15_000,
      "the spans at the receiver",
    );

    const [callbackSpan] = byName(spans, "POST /v1/tenants/{tenant}/tencent");
    const [enqueue] = byName(spans, "enqueue");
    const attempts = byName(spans, "deliver").sort(
      (a, b) => Number(a.attributes["imrelay.attempt"]) - Number(b.attributes["imrelay.attempt"]),
    );
    expect(callbackSpan).toBeDefined();
    expect(enqueue).toBeDefined();
    expect(attempts).toHaveLength(2);

    // One trace: callback → enqueue → each attempt.
    expect(new Set(spans.map((span) => span.traceId))).toEqual(new Set([callbackSpan!.traceId]));
    expect(callbackSpan!.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(callbackSpan!.parentSpanId).toBe("");
    expect(enqueue!.parentSpanId).toBe(callbackSpan!.spanId);
    for (const attempt of attempts) expect(attempt.parentSpanId).toBe(enqueue!.spanId);
    // The context went through Redis: the job carries the enqueue span's traceparent.
    expect((await jobData(prefix, eventId))?.traceparent).toBe(`00-${enqueue!.traceId}-${enqueue!.spanId}-01`);

    expect(callbackSpan).toMatchObject({
      kind: 2,
      status: 0,
      attributes: {
        "http.request.method": "POST",
        "http.route": "/v1/tenants/{tenant}/tencent",
        "http.response.status_code": 200,
        "imrelay.tenant": "acme",
        "imrelay.provider": "tencent",
        "imrelay.outcome": "queued",
        "imrelay.event_id": eventId,
      },
      resource: { "service.name": "imrelay-e2e" },
    });
    expect(enqueue).toMatchObject({
      kind: 4,
      attributes: {
        "imrelay.tenant": "acme",
        "imrelay.provider": "tencent",
        "imrelay.event_id": eventId,
        "imrelay.event_type": "user.online",
        "imrelay.outcome": "queued",
      },
    });
    const common = {
      "http.request.method": "POST",
      "imrelay.tenant": "acme",
      "imrelay.provider": "tencent",
      "imrelay.endpoint_id": "presence",
      "imrelay.event_id": eventId,
      "server.address": "127.0.0.1",
    };
    expect(attempts[0]).toMatchObject({
      kind: 3,
      status: 2,
      attributes: {
        ...common,
        "imrelay.attempt": 1,
        "http.response.status_code": 500,
        "imrelay.outcome": "5xx",
        "error.type": "HTTP_ERROR",
      },
    });
    expect(attempts[1]).toMatchObject({
      kind: 3,
      status: 0,
      attributes: { ...common, "imrelay.attempt": 2, "http.response.status_code": 200, "imrelay.outcome": "2xx" },
    });
    expect(attempts[1]!.attributes["error.type"]).toBeUndefined();

    // Never a secret, a body, a query or a user id: not in any span, attribute or resource sent.
    const sent = receiver.everything();
    const sign = request.query.Sign!;
    for (const secretText of [TOKEN, sign, secret, secret.slice("whsec_".length), QUERY_TOKEN, USER, "token="]) {
      expect(sent).not.toContain(secretText);
    }
    for (const request of receiver.requests) {
      expect(request.path).toBe("/v1/traces");
      expect(request.headers["content-type"]).toMatch(/^application\/json/);
    }
  });

  it("exports OTLP protobuf by default, from a gateway and a worker run apart, in the callback's trace", async () => {
    const { prefix, secret, sink, receiver, config } = await setUp();
    const env = {
      ...NO_OTEL,
      ACME_TENCENT_TOKEN: TOKEN,
      // The signal's own endpoint is used as given (no /v1/traces appended).
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/collector/traces`,
      OTEL_BSP_SCHEDULE_DELAY: "100",
    };
    const gateway = await startRelay({ command: "gateway", config, env });
    relays.push(gateway);
    const worker = await startRelay({ command: "worker", config, env });
    relays.push(worker);
    await callback(gateway);
    await waitFor(() => sink.received.length >= 1, 15_000, "the delivery");
    const traceparent = (await jobData(prefix, sink.ids()[0]!))?.traceparent;
    expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const traceId = Buffer.from(traceparent!.split("-")[1]!, "hex");
    // Protobuf carries ids as raw bytes and names as UTF-8: both are findable without a decoder.
    const holding = (name: string) =>
      receiver.requests.filter((r) => r.body.includes(Buffer.from(name)) && r.body.includes(traceId));
    await waitFor(
      () => holding("enqueue").length > 0 && holding("deliver").length > 0,
      15_000,
      "protobuf exports from both processes",
    );
    expect(holding("POST /v1/tenants/{tenant}/tencent").length).toBeGreaterThan(0);
    for (const request of receiver.requests) {
      expect(request.path).toBe("/collector/traces");
      expect(request.headers["content-type"]).toBe("application/x-protobuf");
    }
    const sent = receiver.everything();
    for (const secretText of [TOKEN, secret, QUERY_TOKEN, USER]) expect(sent).not.toContain(secretText);
    expect(gateway.logs.some((line) => line.includes("tracing on"))).toBe(true);
    expect(worker.logs.some((line) => line.includes("tracing on"))).toBe(true);
  });
});

describe("tracing off", () => {
  it("is off with no OTEL variables: no spans, no traceparent in the stream or the job", async () => {
    const { prefix, sink, config } = await setUp();
    const relay = await startRelay({ config, env: { ...NO_OTEL, ACME_TENCENT_TOKEN: TOKEN } });
    relays.push(relay);
    await callback(relay);
    await waitFor(() => sink.received.length >= 1, 15_000, "the delivery");
    const data = await jobData(prefix, sink.ids()[0]!);
    expect(data).not.toBeNull();
    expect(data).not.toHaveProperty("traceparent");
    expect(relay.logs.some((line) => line.includes("tracing on"))).toBe(false);
    expect(relay.json().some((line) => line.msg === "tracing off")).toBe(true);
  });

  it.each([
    ["OTEL_SDK_DISABLED=true", { OTEL_SDK_DISABLED: "true" }],
    ["OTEL_TRACES_EXPORTER=none", { OTEL_TRACES_EXPORTER: "none" }],
  ])("sends the receiver nothing when %s, even with an endpoint set", async (_name, off) => {
    const { prefix, sink, receiver, config } = await setUp();
    const relay = await startRelay({
      config,
      env: {
        ...NO_OTEL,
        ACME_TENCENT_TOKEN: TOKEN,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_BSP_SCHEDULE_DELAY: "100",
        ...off,
      },
    });
    relays.push(relay);
    await callback(relay);
    await waitFor(() => sink.received.length >= 1, 15_000, "the delivery");
    // Well past the batch delay, and past a stop, which would flush what was buffered.
    await sleep(500);
    await relay.stop();
    expect(receiver.requests).toHaveLength(0);
    expect(await jobData(prefix, sink.ids()[0]!)).not.toHaveProperty("traceparent");
  });
});
