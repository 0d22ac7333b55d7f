import { parseConfig } from "@imrelay/config";
import { toPayload } from "@imrelay/core";
import { deliveryJobOptions, type IngestEvent, parseIngestEntry, payloadJson } from "@imrelay/store";
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { newerId } from "../src/entry-acks.js";
import {
  briskConcurrency,
  DeliveryError,
  defaultJitter,
  deliveryBackoff,
  endpointConcurrency,
  fanOut,
  MAX_RETRY_AFTER_MS,
  outcomeOfStatus,
  parseRetryAfter,
  signedHeaders,
} from "../src/index.js";
import { makeConfig, makeEvent } from "./helpers.js";

describe("an endpoint's slots", () => {
  it("gives one endpoint half the first attempts' slots, and all but a tenth while it answers briskly, unless its share is set", () => {
    expect(endpointConcurrency({ concurrency: 50 })).toBe(25);
    expect(briskConcurrency({ concurrency: 50 })).toBe(45);
    expect(briskConcurrency({ concurrency: 4 })).toBe(3);
    // Never less than its share, never more than the worker's slots.
    expect(briskConcurrency({ concurrency: 1 })).toBe(1);
    expect(briskConcurrency({ concurrency: 2 })).toBe(1);
    // A share set in the config is the most it ever holds.
    expect(briskConcurrency({ concurrency: 50, endpointConcurrency: 10 })).toBe(10);
    expect(briskConcurrency({ concurrency: 50, endpointConcurrency: 80 })).toBe(50);
  });
});

describe("stream entry ids", () => {
  it("orders them as Redis does: by time, then sequence, as numbers", () => {
    expect(newerId("1764739200123-0", "0-0")).toBe(true);
    expect(newerId("1764739200123-1", "1764739200123-0")).toBe(true);
    expect(newerId("1764739200123-10", "1764739200123-9")).toBe(true);
    expect(newerId("1764739200123-9", "1764739200123-10")).toBe(false);
    expect(newerId("1764739200124-0", "1764739200123-99")).toBe(true);
    expect(newerId("1764739200123-99", "1764739200124-0")).toBe(false);
    expect(newerId("10000000000000-0", "9999999999999-5")).toBe(true);
    expect(newerId("2-0", "10-0")).toBe(false);
    // Not newer than itself.
    expect(newerId("1764739200123-4", "1764739200123-4")).toBe(false);
  });
});

describe("Retry-After", () => {
  const now = Date.parse("2025-01-01T00:00:00Z");

  it("reads delta-seconds", () => {
    expect(parseRetryAfter("120", now)).toBe(120_000);
  });

  it("reads an HTTP date as the time until it, and a past date as no wait", () => {
    expect(parseRetryAfter("Wed, 01 Jan 2025 00:01:30 GMT", now)).toBe(90_000);
    expect(parseRetryAfter("Tue, 31 Dec 2024 00:00:00 GMT", now)).toBe(0);
  });

  it("caps the wait at 24 hours and ignores what it cannot read", () => {
    expect(parseRetryAfter("999999999", now)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});

describe("the backoff strategy", () => {
  const none = (ms: number) => ms;

  it("waits the schedule's entry for the attempt that failed", () => {
    const backoff = deliveryBackoff([5_000, 300_000, 1_800_000], none);
    expect(backoff(1)).toBe(5_000);
    expect(backoff(2)).toBe(300_000);
    expect(backoff(3)).toBe(1_800_000);
  });

  it("keeps the last step for a replayed job that runs past the schedule", () => {
    expect(deliveryBackoff([5_000, 60_000], none)(7)).toBe(60_000);
  });

  it("applies the injected jitter to the schedule", () => {
    expect(deliveryBackoff([1_000], (ms) => ms * 1.2)(1)).toBe(1_200);
  });

  it("lets Retry-After lengthen the schedule's step, without jitter", () => {
    const err = new DeliveryError("HTTP_ERROR", "HTTP 429 from endpoint presence", {
      status: 429,
      retryAfterMs: 7_000,
    });
    expect(deliveryBackoff([50, 60_000], () => 0)(1, "schedule", err)).toBe(7_000);
  });

  it("jitters by at most 20 % either way", () => {
    for (let i = 0; i < 200; i++) {
      const ms = defaultJitter(10_000);
      expect(ms).toBeGreaterThanOrEqual(8_000);
      expect(ms).toBeLessThanOrEqual(12_000);
    }
  });
});

describe("Retry-After within the schedule's bounds", () => {
  const now = Date.parse("2025-01-01T00:00:00Z");
  const schedule = [5_000, 300_000, 1_800_000];
  /** +10 %, so a test can tell the jittered step from the bare one. */
  const plusTenPercent = (ms: number) => ms * 1.1;
  /** The wait after attempt `attempt` failed with a 429 carrying this `Retry-After`. */
  const waitAfter = (header: string | undefined, attempt = 1) =>
    deliveryBackoff(schedule, plusTenPercent)(
      attempt,
      "schedule",
      new DeliveryError("HTTP_ERROR", "HTTP 429 from endpoint presence", {
        status: 429,
        retryAfterMs: parseRetryAfter(header, now),
      }),
    );

  it("keeps the schedule's jittered step when Retry-After is 0", () => {
    expect(waitAfter("0")).toBe(5_500);
    expect(waitAfter("0", 2)).toBe(330_000);
  });

  it("keeps the schedule's jittered step when Retry-After is a date in the past", () => {
    expect(waitAfter("Tue, 31 Dec 2024 23:59:00 GMT")).toBe(5_500);
  });

  it("keeps the schedule's jittered step when Retry-After is shorter than it", () => {
    expect(waitAfter("5")).toBe(5_500);
  });

  it("honours a longer Retry-After within the schedule's last step", () => {
    expect(waitAfter("120")).toBe(120_000);
    expect(waitAfter("Wed, 01 Jan 2025 00:10:00 GMT")).toBe(600_000);
  });

  it("waits no longer than the schedule's last step however long Retry-After asks", () => {
    expect(waitAfter("86400")).toBe(1_800_000);
    expect(waitAfter("Fri, 01 Jan 2100 00:00:00 GMT")).toBe(1_800_000);
  });

  it("keeps the schedule's jittered step when Retry-After cannot be read", () => {
    for (const garbage of ["soon", "-1", "1.5", "2s", "3000-01-01", "December 2030", "1e3", "", "  "]) {
      expect(parseRetryAfter(garbage, now)).toBeUndefined();
      expect(waitAfter(garbage)).toBe(5_500);
    }
    expect(waitAfter(undefined)).toBe(5_500);
  });

  it("reads the obsolete RFC 850 and asctime dates as GMT", () => {
    expect(parseRetryAfter("Wednesday, 01-Jan-25 00:01:00 GMT", now)).toBe(60_000);
    expect(parseRetryAfter("Wed Jan  1 00:02:00 2025", now)).toBe(120_000);
  });
});

describe("outcomes", () => {
  it("groups statuses into the metric's outcome labels", () => {
    expect([200, 204, 301, 404, 410, 429, 500, 503].map(outcomeOfStatus)).toEqual([
      "2xx",
      "2xx",
      "error",
      "4xx",
      "4xx",
      "4xx",
      "5xx",
      "5xx",
    ]);
  });
});

describe("ingest entries", () => {
  const event = { id: "evt_1", type: "user.online", tenant: "acme", occurredAt: "2025-01-01T00:00:00.000Z" };

  it("reads the event and its raw copy", () => {
    const raw = { body: { a: 1 }, query: {} };
    expect(parseIngestEntry(["1-0", ["e", JSON.stringify(event), "r", JSON.stringify(raw)]])).toEqual({
      ok: true,
      event,
      raw,
      traceparent: undefined,
      json: JSON.stringify(event),
      rawJson: JSON.stringify(raw),
    });
  });

  it("says why an entry cannot be dispatched", () => {
    expect(parseIngestEntry(["1-0", null])).toEqual({ ok: false, reason: "deleted" });
    expect(parseIngestEntry(["1-0", ["x", "y"]])).toEqual({ ok: false, reason: "no event field" });
    expect(parseIngestEntry(["1-0", ["e", "{"]])).toEqual({ ok: false, reason: "event is not JSON" });
    expect(parseIngestEntry(["1-0", ["e", '{"id":"evt_1"}']])).toEqual({
      ok: false,
      reason: "event lacks id, type, tenant or occurredAt",
    });
  });

  it("reads the traceparent the gateway stored beside the event while tracing is on", () => {
    const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    expect(parseIngestEntry(["1-0", ["e", JSON.stringify(event), "t", traceparent]])).toEqual({
      ok: true,
      event,
      raw: undefined,
      traceparent,
      json: JSON.stringify(event),
    });
  });

  it("still delivers an event whose raw copy is unreadable", () => {
    const parsed = parseIngestEntry(["1-0", ["e", JSON.stringify(event), "r", "{"]]);
    expect(parsed).toEqual({ ok: true, event, raw: undefined, traceparent: undefined, json: JSON.stringify(event) });
    expect(parsed).not.toHaveProperty("rawJson");
  });
});

describe("payload text", () => {
  const event = {
    id: "evt_1",
    type: "user.online",
    tenant: "acme",
    occurredAt: "2025-01-01T00:00:00.000Z",
    note: 'quote " and \u2028',
  };

  it("is the JSON of toPayload, built around the stream's text", () => {
    const json = JSON.stringify(event);
    expect(JSON.parse(payloadJson(event, json))).toEqual(toPayload(event as never));
    expect(payloadJson(event, json)).toBe(JSON.stringify(toPayload(event as never)));
  });

  it("adds the raw copy for an includeRaw endpoint, and to an empty event too", () => {
    const raw = { body: { a: 1 }, query: { c: "x" } };
    expect(JSON.parse(payloadJson(event, JSON.stringify(event), JSON.stringify(raw)))).toEqual(
      toPayload({ ...event, raw } as never),
    );
    expect(JSON.parse(payloadJson(event, "{}", "1")).data).toEqual({ raw: 1 });
  });
});

describe("signing while a secret rotates", () => {
  const NEW = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
  const OLD = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  const body = '{"type":"user.online"}';
  const now = Date.now();
  const verify = (secret: string, headers: Record<string, string>) => new Webhook(secret).verify(body, headers);

  it("puts one v1 signature per secret in webhook-signature, space-separated, new first", () => {
    const headers = signedHeaders({ id: "evt_1", body, secret: [NEW, OLD], now });
    const signatures = headers["webhook-signature"].split(" ");
    expect(signatures).toHaveLength(2);
    for (const signature of signatures) expect(signature).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(signatures[0]).toBe(signedHeaders({ id: "evt_1", body, secret: NEW, now })["webhook-signature"]);
    expect(signatures[1]).toBe(signedHeaders({ id: "evt_1", body, secret: OLD, now })["webhook-signature"]);
  });

  it("verifies with either secret alone, and with no other", () => {
    const headers = signedHeaders({ id: "evt_1", body, secret: [NEW, OLD], now });
    expect(verify(NEW, headers)).toEqual({ type: "user.online" });
    expect(verify(OLD, headers)).toEqual({ type: "user.online" });
    expect(() => verify("whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldA==", headers)).toThrow(WebhookVerificationError);
  });

  it("signs exactly as the standardwebhooks package does", () => {
    const headers = signedHeaders({ id: "evt_1", body, secret: OLD, now: 1_700_000_000_999 });
    expect(headers["webhook-timestamp"]).toBe("1700000000");
    expect(headers["webhook-signature"]).toBe(new Webhook(OLD).sign("evt_1", new Date(1_700_000_000_000), body));
  });

  it("signs with the one secret when there is one", () => {
    const headers = signedHeaders({ id: "evt_1", body, secret: [NEW], now });
    expect(headers["webhook-signature"]).not.toContain(" ");
    expect(verify(NEW, headers)).toEqual({ type: "user.online" });
    expect(() => verify(OLD, headers)).toThrow(WebhookVerificationError);
  });
});

describe("fan-out with endpoint filters", () => {
  const config = makeConfig("unused", [
    { id: "mobile", url: "https://a.example/hook", filter: { platform: { $in: ["ios", "android"] } } },
    { id: "tencent-web", url: "https://a.example/hook", filter: { provider: "tencent", platform: "web" } },
    { id: "raw-only", url: "https://a.example/hook", includeRaw: true, filter: { "raw.query.OptPlatform": "IOS" } },
    { id: "all", url: "https://a.example/hook" },
  ]);
  const jobOptions = deliveryJobOptions(config.delivery);
  const fan = (event: IngestEvent, raw?: unknown) => fanOut({ event, raw, tenant: config.tenants.acme!, jobOptions });
  const endpointsOf = (result: ReturnType<typeof fan>) => result.jobs.map((job) => job.data.endpointId);

  it("sends an event only to the endpoints whose filter matches it, and names the others", () => {
    const ios = fan(makeEvent({ platform: "ios" }) as IngestEvent, { query: { OptPlatform: "IOS" }, body: {} });
    expect(endpointsOf(ios)).toEqual(["mobile", "raw-only", "all"]);
    expect(ios.filtered).toEqual(["tencent-web"]);

    const web = fan(makeEvent({ platform: "web" }) as IngestEvent);
    expect(endpointsOf(web)).toEqual(["tencent-web", "all"]);
    expect(web.filtered).toEqual(["mobile", "raw-only"]);
  });

  it("does not count as filtered an event the endpoint's other settings already turned away", () => {
    const strict = makeConfig("unused", [
      { id: "offline", url: "https://a.example/hook", events: ["user.offline"], filter: { platform: "web" } },
    ]);
    const result = fanOut({
      event: makeEvent({ platform: "ios" }) as IngestEvent,
      raw: undefined,
      tenant: strict.tenants.acme!,
      jobOptions,
    });
    expect(result).toEqual({ jobs: [], sends: [], parked: [], filtered: [] });
  });

  it("routes each delivery as asked: sent, or parked with only its endpoint (the same job when asked for it); none queued", () => {
    const event = makeEvent({ platform: "ios" }) as IngestEvent;
    const raw = { query: { OptPlatform: "IOS" }, body: {} };
    const json = JSON.stringify(event);
    const tenant = config.tenants.acme!;
    const route = (tenantId: string, endpoint: { id: string }) =>
      tenantId !== "acme" || endpoint.id === "mobile" ? ("send" as const) : ("park" as const);
    const whole = fanOut({ event, raw, tenant, jobOptions, json, rawJson: JSON.stringify(raw) });
    const result = fanOut({ event, raw, tenant, jobOptions, json, rawJson: JSON.stringify(raw), route });
    expect(result.jobs).toEqual([]);
    expect(result.sends).toEqual(whole.jobs.slice(0, 1));
    expect(whole.jobs.map((job) => job.data.endpointId)).toEqual(["mobile", "raw-only", "all"]);
    expect(result.filtered).toEqual(["tencent-web"]);
    expect(result.parked.map(({ endpointId, raw }) => ({ endpointId, raw }))).toEqual([
      { endpointId: "raw-only", raw: true },
      { endpointId: "all", raw: false },
    ]);
    // Made when a batch must carry it: the very job fan-out makes for an endpoint not parked.
    expect(result.parked.map((delivery) => delivery.job())).toEqual(whole.jobs.slice(1));
  });
});

describe("fan-out and tracing", () => {
  const config = parseConfig(
    {
      tenants: {
        acme: {
          tencent: { sdkAppId: "1400000000" },
          endpoints: [
            { id: "a", url: "https://a.example.com/hook", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" },
            { id: "b", url: "https://b.example.com/hook", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" },
          ],
        },
      },
    },
    "test",
  );
  const event = { id: "evt_1", type: "user.online", tenant: "acme", occurredAt: "2025-01-01T00:00:00.000Z" };
  const tenant = config.tenants.acme!;

  it("carries the traceparent into every endpoint's job, so each delivery joins the callback's trace", () => {
    const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const { jobs } = fanOut({ event, raw: undefined, traceparent, tenant, jobOptions: {} });
    expect(jobs.map((job) => [job.data.endpointId, job.data.traceparent])).toEqual([
      ["a", traceparent],
      ["b", traceparent],
    ]);
  });

  it("leaves the traceparent out of the job's JSON when tracing was off", () => {
    const [job] = fanOut({ event, raw: undefined, traceparent: undefined, tenant, jobOptions: {} }).jobs;
    expect(JSON.parse(JSON.stringify(job!.data))).not.toHaveProperty("traceparent");
  });
});
