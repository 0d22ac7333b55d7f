import { createHash, randomUUID } from "node:crypto";
import { openImRequest } from "@imrelay/openim-adapter";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  dropKeys,
  parseMetrics,
  postTencent,
  type Sample,
  type Sink,
  type Stack,
  sampleValue,
  startSink,
  startStack,
  tencentCallback,
  waitFor,
  webhookSecret,
} from "./stack.js";

// One run, read the way an operator reads it: /metrics, the log lines, and the admin API.
const prefix = `test-${randomUUID()}`;
const SDK_APP_ID = "1400000000";
const TENCENT_TOKEN = `tencent-token-${randomUUID()}`;
const OPENIM_USER = "openim";
const OPENIM_PASSWORD = `openim-password-${randomUUID()}`;
const ADMIN_TOKEN = `admin-token-${randomUUID()}`;
const HEALTHY_SECRET = webhookSecret();
const FAILING_SECRET = webhookSecret();
const FAILING_BODY = "failing-sink: upstream exploded (code 7781)";
/** The first attempt and the two retries of `retrySchedule: [50, 50]`. */
const ATTEMPTS = 3;
/** Events that reach the endpoints: three Tencent logins and one OpenIM online. */
const QUEUED = 4;
/** When the events happened: a minute before they are delivered. */
const OCCURRED = Date.now() - 60_000;

let healthy: Sink;
let failing: Sink;
let stack: Stack;
let samples: Sample[];
const signs: string[] = [];
const queuedUsers = ["u1", "u2", "u3", "o1"];

const metric = (name: string, labels: Record<string, string> = {}) => sampleValue(samples, name, labels);
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

function openim(userId: string, seq: number, password = OPENIM_PASSWORD) {
  const req = openImRequest({ userId, seq, platformId: 1, basicAuth: { username: OPENIM_USER, password } });
  return stack.call(`/v1/tenants/acme${req.url}`, { method: "POST", headers: req.headers, body: req.body });
}

function signed(userId: string, eventTime: number, action?: string) {
  const callback = tencentCallback({ token: TENCENT_TOKEN, sdkAppId: SDK_APP_ID, userId, eventTime, action });
  signs.push(callback.query.Sign!);
  return callback;
}

beforeAll(async () => {
  healthy = await startSink(200);
  failing = await startSink(500, FAILING_BODY);
  stack = await startStack({
    prefix,
    adminToken: ADMIN_TOKEN,
    tenants: {
      acme: {
        tencent: { sdkAppId: SDK_APP_ID, callbackToken: TENCENT_TOKEN },
        openim: { appId: "acme-openim", basicAuth: { username: OPENIM_USER, password: OPENIM_PASSWORD } },
        endpoints: [
          { id: "healthy", url: healthy.url, secret: HEALTHY_SECRET, includeRaw: true },
          { id: "failing", url: failing.url, secret: FAILING_SECRET },
        ],
      },
    },
  });

  const first = signed("u1", OCCURRED);
  expect((await postTencent(stack, "acme", first)).status).toBe(200);
  expect((await postTencent(stack, "acme", signed("u2", OCCURRED + 1))).status).toBe(200);
  expect((await postTencent(stack, "acme", signed("u3", OCCURRED + 2))).status).toBe(200);
  // Tencent re-sends a callback it thinks was lost: the same body, so the same event id.
  expect((await postTencent(stack, "acme", first)).status).toBe(200);
  const forged = signed("u4", OCCURRED + 3);
  forged.query.Sign = createHash("sha256").update("not the token").digest("hex");
  signs.push(forged.query.Sign);
  expect((await postTencent(stack, "acme", forged)).status).toBe(401);
  expect((await postTencent(stack, "acme", signed("u5", OCCURRED + 4, "Teleport"))).status).toBe(200);
  expect((await openim("o1", OCCURRED)).status).toBe(200);
  // OpenIM re-sends online for a platform that is online: a renewal.
  expect((await openim("o1", OCCURRED + 1000)).status).toBe(200);
  expect((await openim("o2", OCCURRED, "not-the-password")).status).toBe(401);

  samples = await waitFor(async () => {
    const scraped = parseMetrics((await stack.call("/metrics")).text);
    const settled =
      sampleValue(scraped, "imrelay_deliveries_total", { tenant: "acme", endpoint: "healthy", outcome: "2xx" }) ===
        QUEUED &&
      sampleValue(scraped, "imrelay_queue_jobs", { state: "failed" }) === QUEUED &&
      sampleValue(scraped, "imrelay_queue_jobs", { state: "delayed" }) === 0 &&
      sampleValue(scraped, "imrelay_queue_jobs", { state: "active" }) === 0 &&
      stack.log.entries().filter((e) => e.msg === "delivery is a dead letter").length === QUEUED;
    return settled ? scraped : undefined;
  }, "every delivery to be delivered or a dead letter");
}, 20_000);

afterAll(async () => {
  await stack?.close();
  await Promise.all([healthy?.close(), failing?.close()]);
  await dropKeys(prefix);
});

describe("/metrics after a run with a healthy and a failing endpoint", () => {
  it("counts every callback by provider and outcome, and nothing else", () => {
    const callbacks = samples.filter((s) => s.name === "imrelay_callbacks_total");
    expect(
      Object.fromEntries(
        callbacks.map((s) => [`${s.labels.tenant}/${s.labels.provider}/${s.labels.outcome}`, s.value]),
      ),
    ).toEqual({
      "acme/tencent/queued": 3,
      "acme/tencent/duplicate": 1,
      "acme/tencent/signature_mismatch": 1,
      "acme/tencent/unrecognized": 1,
      "acme/openim/queued": 1,
      "acme/openim/renewal": 1,
      "acme/openim/credentials_invalid": 1,
    });
  });

  it("counts the unrecognized callback and the suppressed renewal", () => {
    expect(metric("imrelay_unrecognized_callbacks_total", { tenant: "acme", provider: "tencent" })).toBe(1);
    expect(metric("imrelay_renewals_suppressed_total", { tenant: "acme" })).toBe(1);
  });

  it("times every answered callback, refused ones included", () => {
    expect(metric("imrelay_callback_ack_seconds_count", { provider: "tencent" })).toBe(6);
    expect(metric("imrelay_callback_ack_seconds_count", { provider: "openim" })).toBe(3);
    expect(metric("imrelay_callback_ack_seconds_bucket", { provider: "tencent", le: "+Inf" })).toBe(6);
  });

  it("counts one 2xx per event for the healthy endpoint and every 5xx attempt for the failing one", () => {
    const deliveries = samples.filter((s) => s.name === "imrelay_deliveries_total");
    expect(
      Object.fromEntries(
        deliveries.map((s) => [`${s.labels.tenant}/${s.labels.endpoint}/${s.labels.outcome}`, s.value]),
      ),
    ).toEqual({ "acme/healthy/2xx": QUEUED, "acme/failing/5xx": QUEUED * ATTEMPTS });
    expect(metric("imrelay_delivery_duration_seconds_count", { tenant: "acme", endpoint: "healthy" })).toBe(QUEUED);
    expect(metric("imrelay_delivery_duration_seconds_count", { tenant: "acme", endpoint: "failing" })).toBe(
      QUEUED * ATTEMPTS,
    );
  });

  it("shows the failing endpoint's events as dead letters and nothing left in flight", () => {
    expect(metric("imrelay_queue_jobs", { state: "failed" })).toBe(QUEUED);
    expect(metric("imrelay_queue_jobs", { state: "waiting" })).toBe(0);
    expect(metric("imrelay_queue_jobs", { state: "active" })).toBe(0);
    expect(metric("imrelay_queue_jobs", { state: "delayed" })).toBe(0);
    expect(metric("imrelay_ingest_backlog")).toBe(0);
  });

  it("measures event age only on successful deliveries, from when the event happened", () => {
    expect(metric("imrelay_event_age_seconds_count", { tenant: "acme" })).toBe(QUEUED);
    // The events happened a minute before they were delivered.
    expect(metric("imrelay_event_age_seconds_bucket", { tenant: "acme", le: "30" })).toBe(0);
    expect(metric("imrelay_event_age_seconds_bucket", { tenant: "acme", le: "300" })).toBe(QUEUED);
    expect(metric("imrelay_event_age_seconds_sum", { tenant: "acme" })).toBeGreaterThanOrEqual(QUEUED * 60);
  });
});

describe("the log lines of the run", () => {
  it("has one line per callback with tenant, provider, eventId, outcome and duration", () => {
    const lines = stack.log.entries().filter((e) => e.component === "gateway" && "durationMs" in e);
    expect(lines.map((l) => `${l.provider}/${l.outcome}/${l.status}`)).toEqual([
      "tencent/queued/200",
      "tencent/queued/200",
      "tencent/queued/200",
      "tencent/duplicate/200",
      "tencent/signature_mismatch/401",
      "tencent/unrecognized/200",
      "openim/queued/200",
      "openim/renewal/200",
      "openim/credentials_invalid/401",
    ]);
    for (const line of lines) {
      expect(line.tenant).toBe("acme");
      expect(typeof line.durationMs).toBe("number");
      expect(line.durationMs as number).toBeGreaterThanOrEqual(0);
    }
    const delivered = new Set(healthy.requests.map((r) => r.headers["webhook-id"]));
    const queued = lines.filter((l) => l.outcome === "queued");
    expect(new Set(queued.map((l) => l.eventId))).toEqual(delivered);
    expect(queued.map((l) => l.userId)).toEqual(queuedUsers);
    // The re-sent callback names the event it repeats; the renewal names its own.
    expect(lines[3]!.eventId).toBe(lines[0]!.eventId);
    expect(lines[7]!.eventId).toMatch(/^evt_/);
    expect(lines[4]!.eventId).toBeUndefined();
    expect(lines[4]!.reason).toBe("Sign does not match");
    expect(lines[8]!.reason).toMatch(/credentials/i);
  });

  it("has one line per delivery attempt with tenant, endpoint, eventId, attempt, outcome and status", () => {
    const attempts = stack.log
      .entries()
      .filter((e) => e.component === "worker" && (e.msg === "delivered" || e.msg === "delivery attempt failed"));
    const ids = new Set(healthy.requests.map((r) => String(r.headers["webhook-id"])));
    expect(ids.size).toBe(QUEUED);

    const ok = attempts.filter((a) => a.endpoint === "healthy");
    expect(ok).toHaveLength(QUEUED);
    for (const a of ok) {
      expect(a).toMatchObject({ tenant: "acme", msg: "delivered", attempt: 1, outcome: "2xx", status: 200 });
      expect(ids.has(String(a.eventId))).toBe(true);
    }

    const bad = attempts.filter((a) => a.endpoint === "failing");
    expect(bad).toHaveLength(QUEUED * ATTEMPTS);
    for (const a of bad) {
      expect(a).toMatchObject({ tenant: "acme", msg: "delivery attempt failed", outcome: "5xx", status: 500 });
    }
    for (const id of ids) {
      const tries = bad.filter((a) => a.eventId === id).map((a) => a.attempt);
      expect(tries.sort()).toEqual([1, 2, 3]);
    }
    expect(failing.requests).toHaveLength(QUEUED * ATTEMPTS);
  });

  it("says which deliveries became dead letters, and why", () => {
    const dead = stack.log.entries().filter((e) => e.msg === "delivery is a dead letter");
    expect(dead).toHaveLength(QUEUED);
    for (const line of dead) {
      expect(line).toMatchObject({ tenant: "acme", endpoint: "failing", reason: "HTTP 500 from endpoint failing" });
    }
  });
});

describe("secrets during the run", () => {
  it("never appear in a log line, an HTTP answer or a delivered payload", async () => {
    // Read what an operator would read, so those answers are checked too.
    const basic = `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString("base64")}`;
    const reads = [
      await stack.call("/v1/deliveries?state=failed", { headers: admin }),
      await stack.call("/v1/deliveries?state=completed", { headers: admin }),
      await stack.call(`/v1/deliveries/${healthy.requests[0]!.headers["webhook-id"]}.failing`, { headers: admin }),
      await stack.call("/v1/tenants/acme/endpoints", { headers: admin }),
      await stack.call("/v1/unrecognized", { headers: admin }),
      await stack.call("/v1/tenants/acme/users/u1/presence", { headers: admin }),
      await stack.call("/admin/queues", { headers: { authorization: basic } }),
      await stack.call("/v1/deliveries", { headers: { authorization: `Bearer ${ADMIN_TOKEN}x` } }),
      await stack.call("/metrics"),
    ];
    expect(reads.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200, 200, 401, 200]);
    // The dashboard's view of every partition's dead letters.
    for (let p = 0; p < 16; p++) {
      const queue = `p${String(p).padStart(2, "0")}-deliveries`;
      const read = await stack.call(`/admin/queues/api/queues?activeQueue=${queue}&status=failed`, {
        headers: { authorization: basic },
      });
      expect(read.status).toBe(200);
      reads.push(read);
    }
    const failed = reads[0]!.json as { total: number; deliveries: Array<{ lastResponse: { status: number } }> };
    expect(failed.total).toBe(QUEUED);
    expect(failed.deliveries.map((d) => d.lastResponse.status)).toEqual([500, 500, 500, 500]);
    // The healthy endpoint asked for raw: it gets the vendor's query, without its Sign.
    const raw = healthy.requests.find((r) => r.payload.data.userId === "u1")!.payload.data.raw as {
      query: Record<string, string>;
    };
    expect(raw.query.SdkAppid).toBe(SDK_APP_ID);
    expect(raw.query).not.toHaveProperty("Sign");

    const secrets = {
      "the Tencent token": TENCENT_TOKEN,
      "the OpenIM password": OPENIM_PASSWORD,
      "the OpenIM Basic credentials": Buffer.from(`${OPENIM_USER}:${OPENIM_PASSWORD}`).toString("base64"),
      "the healthy endpoint's secret": HEALTHY_SECRET,
      "the healthy endpoint's key": HEALTHY_SECRET.slice("whsec_".length),
      "the failing endpoint's secret": FAILING_SECRET,
      "the failing endpoint's key": FAILING_SECRET.slice("whsec_".length),
      "the admin token": ADMIN_TOKEN,
      ...Object.fromEntries(signs.map((sign, i) => [`Sign #${i}`, sign])),
    };
    const texts = {
      log: stack.log.lines,
      answer: stack.answers,
      payload: [...healthy.requests, ...failing.requests].map((r) => r.body),
    };
    expect(stack.log.lines.length).toBeGreaterThan(30);
    expect(stack.answers.length).toBeGreaterThan(20);
    const leaks: string[] = [];
    for (const [where, list] of Object.entries(texts)) {
      for (const text of list) {
        for (const [what, secret] of Object.entries(secrets)) {
          if (text.includes(secret)) leaks.push(`${what} in a ${where}: ${text.slice(0, 200)}`);
        }
      }
    }
    expect(leaks).toEqual([]);
  });
});
