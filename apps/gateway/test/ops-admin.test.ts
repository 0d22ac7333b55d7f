import { randomUUID } from "node:crypto";
import {
  createBatchQueues,
  createRedisClient,
  DELIVERY_BATCH_JOB_NAME,
  type DeliveryBatchData,
  redisKeys,
} from "@imrelay/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  dropKeys,
  parseMetrics,
  postTencent,
  REDIS_URL,
  type Sink,
  type Stack,
  sampleValue,
  startSink,
  startStack,
  tencentCallback,
  waitFor,
  webhookSecret,
} from "./stack.js";

// An operator's day: dead letters, replays, a 410 endpoint, maintenance, and who may do any of it.
const prefix = `test-${randomUUID()}`;
const SDK_APP_ID = "1400000000";
const TOKEN = `tencent-token-${randomUUID()}`;
const ADMIN_TOKEN = `admin-token-${randomUUID()}`;
const FLAKY_BODY = "flaky-sink: database is locked (try later)";
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const adminJson = { ...admin, "content-type": "application/json" };
const T0 = Date.now() - 10_000;

let healthy: Sink;
let flaky: Sink;
let gone: Sink;
let other: Sink;
let stack: Stack;
let closed: Stack;
let start: string;
const signs: string[] = [];

interface Delivery {
  id: string;
  state: string;
  tenant: string;
  endpointId: string;
  eventId: string;
  userId: string;
  attempts: number;
  maxAttempts: number;
  failedReason: string | null;
  lastResponse: { status: number | null; bodyExcerpt: string | null; error: string | null; attempt: number } | null;
  event?: Record<string, unknown>;
}

let at = 0;
async function login(tenant: string, userId: string, action = "Login", reason = "Register") {
  const callback = tencentCallback({
    token: TOKEN,
    sdkAppId: SDK_APP_ID,
    userId,
    action,
    reason,
    eventTime: T0 + at++,
  });
  signs.push(callback.query.Sign!);
  const res = await postTencent(stack, tenant, callback);
  expect(res.status).toBe(200);
}

async function deadLetters(query = ""): Promise<{ total: number; deliveries: Delivery[] }> {
  const res = await stack.call(`/v1/deliveries?state=failed${query}`, { headers: admin });
  expect(res.status).toBe(200);
  return res.json as { total: number; deliveries: Delivery[] };
}

async function delivery(id: string): Promise<Delivery & { status: number }> {
  const res = await stack.call(`/v1/deliveries/${id}`, { headers: admin });
  return { ...(res.json as unknown as Delivery), status: res.status };
}

const post = (path: string, body?: unknown) =>
  stack.call(path, { method: "POST", headers: adminJson, body: body === undefined ? undefined : JSON.stringify(body) });

const received = (sink: Sink, userId: string) => sink.requests.filter((r) => r.payload.data.userId === userId);

/** The delivery job id of a user's event at an endpoint, as the admin API names it. */
const jobOf = (list: Delivery[], userId: string, endpointId: string) =>
  list.find((d) => d.userId === userId && d.endpointId === endpointId)!.id;

beforeAll(async () => {
  healthy = await startSink(200);
  flaky = await startSink(500, FLAKY_BODY);
  gone = await startSink(410, "gone");
  other = await startSink(503, "other-sink: overloaded");
  const tenants = {
    acme: {
      tencent: { sdkAppId: SDK_APP_ID, callbackToken: TOKEN },
      endpoints: [
        { id: "healthy", url: healthy.url, secret: webhookSecret() },
        { id: "flaky", url: flaky.url, secret: webhookSecret(), events: ["user.online" as const] },
        { id: "gone", url: gone.url, secret: webhookSecret(), events: ["user.offline" as const] },
      ],
    },
    beta: {
      tencent: { sdkAppId: SDK_APP_ID, callbackToken: TOKEN },
      endpoints: [{ id: "flaky", url: other.url, secret: webhookSecret() }],
    },
  };
  stack = await startStack({ prefix, adminToken: ADMIN_TOKEN, tenants });
  closed = await startStack({ prefix, tenants, worker: false });

  start = new Date().toISOString();
  for (const user of ["u1", "u2", "u3"]) await login("acme", user);
  await login("acme", "u1", "Logout", "Unregister");
  await login("beta", "b1");
  // healthy: 4 delivered; flaky: 3 dead letters (500); gone: 1 (410); beta's flaky: 1 (503).
  await waitFor(async () => (await deadLetters()).total === 5 && healthy.requests.length === 4, "5 dead letters");
}, 20_000);

afterAll(async () => {
  await Promise.all([stack?.close(), closed?.close()]);
  await Promise.all([healthy, flaky, gone, other].map((sink) => sink?.close()));
  await dropKeys(prefix);
});

describe("dead letters", () => {
  it("lists every dead letter with the endpoint's last status and the start of its body", async () => {
    const { total, deliveries } = await deadLetters();
    expect(total).toBe(5);
    expect(deliveries.map((d) => `${d.tenant}/${d.endpointId}/${d.userId}`).sort()).toEqual([
      "acme/flaky/u1",
      "acme/flaky/u2",
      "acme/flaky/u3",
      "acme/gone/u1",
      "beta/flaky/b1",
    ]);
    for (const d of deliveries.filter((d) => d.tenant === "acme" && d.endpointId === "flaky")) {
      expect(d).toMatchObject({ state: "failed", attempts: 3, maxAttempts: 3 });
      expect(d.failedReason).toBe("HTTP 500 from endpoint flaky");
      expect(d.lastResponse).toMatchObject({ status: 500, bodyExcerpt: FLAKY_BODY, error: "HTTP_ERROR", attempt: 3 });
    }
    const gone410 = deliveries.find((d) => d.endpointId === "gone")!;
    expect(gone410).toMatchObject({ attempts: 1, lastResponse: { status: 410, attempt: 1 } });
    expect(flaky.requests).toHaveLength(9);
    expect(gone.requests).toHaveLength(1);
  });

  it("filters dead letters by tenant and by endpoint", async () => {
    const beta = await deadLetters("&tenant=beta");
    expect(beta.deliveries.map((d) => `${d.tenant}/${d.endpointId}`)).toEqual(["beta/flaky"]);
    expect(beta.deliveries[0]!.lastResponse).toMatchObject({ status: 503, bodyExcerpt: "other-sink: overloaded" });
    const acmeFlaky = await deadLetters("&tenant=acme&endpoint=flaky");
    expect(acmeFlaky.deliveries.map((d) => d.userId).sort()).toEqual(["u1", "u2", "u3"]);
    const anyFlaky = await deadLetters("&endpoint=flaky");
    expect(anyFlaky.deliveries).toHaveLength(4);
  });

  it("applies limit and offset to the filtered dead letters", async () => {
    const first = await deadLetters("&tenant=acme&endpoint=flaky&limit=2");
    const rest = await deadLetters("&tenant=acme&endpoint=flaky&limit=2&offset=2");
    expect(first.total).toBe(3);
    expect(first.deliveries).toHaveLength(2);
    expect(rest.deliveries).toHaveLength(1);
    expect([...first.deliveries, ...rest.deliveries].map((d) => d.userId).sort()).toEqual(["u1", "u2", "u3"]);
    const beta = await deadLetters("&tenant=beta&limit=1");
    expect(beta.deliveries.map((d) => d.userId)).toEqual(["b1"]);
    expect(beta.total).toBe(1);
    // limit=0 asks only for the count.
    const none = await deadLetters("&limit=0");
    expect(none).toMatchObject({ total: 5, deliveries: [] });
  });

  it("shows one delivery with the event it carries", async () => {
    const id = jobOf((await deadLetters()).deliveries, "u2", "flaky");
    const one = await delivery(id);
    expect(one.status).toBe(200);
    expect(one).toMatchObject({ id, state: "failed", tenant: "acme", endpointId: "flaky", userId: "u2" });
    expect(one.event).toMatchObject({ id: one.eventId, type: "user.online", tenant: "acme", userId: "u2" });
    expect(id).toBe(`${one.eventId}.flaky`);
    const missing = await stack.call("/v1/deliveries/evt_nothing.flaky", { headers: admin });
    expect(missing.status).toBe(404);
    expect(missing.json.error?.code).toBe("DELIVERY_NOT_FOUND");
  });

  it("shows a delivery that succeeded at its first attempt (no job: the delivered log) as completed, with its event", async () => {
    const completed = await stack.call("/v1/deliveries?state=completed&endpoint=healthy", { headers: admin });
    expect(completed.status).toBe(200);
    const listed = (completed.json.deliveries as Delivery[]).find((d) => d.userId === "u2")!;
    expect(listed).toMatchObject({ state: "completed", tenant: "acme", endpointId: "healthy", attempts: 1 });
    const one = await delivery(listed.id);
    expect(one).toMatchObject({ id: listed.id, state: "completed", attempts: 1, failedReason: null });
    expect(one.lastResponse).toMatchObject({ status: 200, error: null, attempt: 1 });
    expect(one.event).toMatchObject({ id: one.eventId, type: "user.online", tenant: "acme", userId: "u2" });
    expect(listed.id).toBe(`${one.eventId}.healthy`);
  });

  it("retries a dead letter and delivers it once the endpoint is back", async () => {
    const id = jobOf((await deadLetters()).deliveries, "u1", "flaky");
    flaky.answer(200);
    const res = await post(`/v1/deliveries/${id}/retry`);
    expect(res.status).toBe(202);
    expect(res.json).toMatchObject({ id, state: "waiting" });
    await waitFor(async () => (await delivery(id)).state === "completed", "the retried delivery to complete");
    // The replay's answer, not the failure before it, is what the delivery shows now.
    expect((await delivery(id)).lastResponse).toMatchObject({ status: 200, error: null, attempt: 1 });
    expect(received(flaky, "u1").map((r) => r.headers["webhook-id"])).toEqual(Array(4).fill(id.split(".")[0]));
    expect(received(flaky, "u2")).toHaveLength(3);
    const left = await deadLetters("&tenant=acme&endpoint=flaky");
    expect(left.total).toBe(2);
    expect(left.deliveries.map((d) => d.userId).sort()).toEqual(["u2", "u3"]);
  });

  it("answers 409 to a retry of a delivery that is not a dead letter", async () => {
    const completed = await stack.call("/v1/deliveries?state=completed&endpoint=healthy", { headers: admin });
    const id = (completed.json.deliveries as Delivery[])[0]!.id;
    const res = await post(`/v1/deliveries/${id}/retry`);
    expect(res.status).toBe(409);
    expect(res.json.error?.code).toBe("NOT_A_DEAD_LETTER");
    expect(res.json.error?.message).toContain("completed");
  });

  it("recovers only that endpoint's dead letters since the given time", async () => {
    flaky.answer(500, FLAKY_BODY);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const since = new Date().toISOString();
    await login("acme", "u5");
    await waitFor(async () => (await deadLetters("&tenant=acme&endpoint=flaky")).deliveries.length === 3, "u5 dead");
    flaky.answer(200);

    const res = await post("/v1/tenants/acme/endpoints/flaky/recover", { since });
    expect(res.status).toBe(202);
    expect(res.json).toMatchObject({ tenant: "acme", endpointId: "flaky", since, retried: 1 });
    await waitFor(() => received(flaky, "u5").length === 4, "u5 redelivered");
    const left = await deadLetters();
    expect(left.deliveries.map((d) => `${d.tenant}/${d.endpointId}/${d.userId}`).sort()).toEqual([
      "acme/flaky/u2",
      "acme/flaky/u3",
      "acme/gone/u1",
      "beta/flaky/b1",
    ]);

    const all = await post("/v1/tenants/acme/endpoints/flaky/recover", { since: start });
    expect(all.json.retried).toBe(2);
    await waitFor(() => received(flaky, "u2").length === 4 && received(flaky, "u3").length === 4, "u2, u3 again");
    expect((await deadLetters()).total).toBe(2);
    expect((await post("/v1/tenants/acme/endpoints/flaky/recover", { since: "yesterday-ish" })).status).toBe(400);
    expect((await post("/v1/tenants/acme/endpoints/nope/recover", { since })).status).toBe(404);
  });
});

describe("an endpoint that answered 410 Gone", () => {
  it("is listed as disabled, with why and when", async () => {
    const res = await stack.call("/v1/tenants/acme/endpoints", { headers: admin });
    expect(res.status).toBe(200);
    const endpoints = res.json.endpoints as Array<{ id: string; disabled: { at: string } | null }>;
    const byId = Object.fromEntries(endpoints.map((e) => [e.id, e]));
    expect(byId.gone).toMatchObject({ enabled: false, disabled: { by: "runtime", reason: "410 Gone" } });
    expect(Date.parse(byId.gone!.disabled!.at)).toBeGreaterThanOrEqual(Date.parse(start));
    expect(byId.healthy).toMatchObject({ enabled: true, disabled: null });
    expect(res.text).not.toContain("whsec_");
  });

  it("refuses a retry with 409 ENDPOINT_DISABLED until enabled, then delivers it", async () => {
    const id = jobOf((await deadLetters()).deliveries, "u1", "gone");
    const refused = await post(`/v1/deliveries/${id}/retry`);
    expect(refused.status).toBe(409);
    expect(refused.json.error?.code).toBe("ENDPOINT_DISABLED");
    expect((await post("/v1/tenants/acme/endpoints/gone/recover", { since: start })).status).toBe(409);

    const enabled = await post("/v1/tenants/acme/endpoints/gone/enable");
    expect(enabled.json).toMatchObject({ enabled: true, wasDisabled: true });
    gone.answer(204, "");
    expect((await post(`/v1/deliveries/${id}/retry`)).status).toBe(202);
    await waitFor(async () => (await delivery(id)).state === "completed", "the gone endpoint's delivery");
    expect(gone.requests).toHaveLength(2);
    const list = await stack.call("/v1/tenants/acme/endpoints", { headers: admin });
    expect((list.json.endpoints as Array<{ id: string; enabled: boolean }>).find((e) => e.id === "gone")!.enabled).toBe(
      true,
    );
  });
});

describe("an endpoint disabled through the admin API", () => {
  it("keeps its events as dead letters, without calling it, until it is enabled and recovered", async () => {
    const since = new Date().toISOString();
    const disabled = await post("/v1/tenants/acme/endpoints/healthy/disable", { reason: "receiver maintenance" });
    expect(disabled.status).toBe(200);
    expect(disabled.json).toMatchObject({ endpointId: "healthy", enabled: false, reason: "receiver maintenance" });
    const list = await stack.call("/v1/tenants/acme/endpoints", { headers: admin });
    expect((list.json.endpoints as Array<{ id: string }>).find((e) => e.id === "healthy")).toMatchObject({
      enabled: false,
      disabled: { by: "runtime", reason: "receiver maintenance" },
    });

    const before = healthy.requests.length;
    await login("acme", "u6");
    const [request] = await waitFor(() => {
      const got = received(flaky, "u6");
      return got.length === 1 ? got : undefined;
    }, "u6 at flaky");
    const eventId = String(request!.headers["webhook-id"]);
    expect((await delivery(`${eventId}.flaky`)).state).toBe("completed");
    await waitFor(async () => (await delivery(`${eventId}.healthy`)).state === "failed", "u6's dead letter at healthy");
    expect((await delivery(`${eventId}.healthy`)).failedReason).toBe("endpoint disabled");
    expect(healthy.requests).toHaveLength(before);

    expect((await post("/v1/tenants/acme/endpoints/healthy/enable")).json.wasDisabled).toBe(true);
    const recovered = await post("/v1/tenants/acme/endpoints/healthy/recover", { since });
    expect(recovered.json).toMatchObject({ retried: 1 });
    await waitFor(() => received(healthy, "u6").length === 1, "u6 at healthy once recovered");
    await login("acme", "u7");
    await waitFor(() => received(healthy, "u7").length === 1, "u7 at healthy once enabled");
    expect((await post("/v1/tenants/acme/endpoints/nope/disable")).status).toBe(404);
  });
});

describe("unrecognized callbacks", () => {
  it("are listed for inspection, without the Sign they came with", async () => {
    const callback = tencentCallback({
      token: TOKEN,
      sdkAppId: SDK_APP_ID,
      userId: "u8",
      action: "Teleport",
      reason: "Beam",
      eventTime: T0,
    });
    expect((await postTencent(stack, "acme", callback)).status).toBe(200);
    const res = await stack.call("/v1/unrecognized", { headers: admin });
    expect(res.status).toBe(200);
    expect(res.json.callbacks).toHaveLength(1);
    const [kept] = res.json.callbacks as Array<{ reason: string; query: Record<string, string> }>;
    expect(kept).toMatchObject({
      tenant: "acme",
      provider: "tencent",
      body: { Info: { Action: "Teleport", To_Account: "u8", Reason: "Beam" } },
      query: { SdkAppid: SDK_APP_ID, RequestTime: callback.query.RequestTime },
    });
    expect(kept!.reason).toContain("Teleport");
    expect(kept!.query).not.toHaveProperty("Sign");
    expect(res.text).not.toContain(callback.query.Sign);
    expect((await stack.call("/v1/unrecognized?tenant=beta", { headers: admin })).json.callbacks).toEqual([]);
    // Never delivered.
    expect(received(healthy, "u8")).toHaveLength(0);
  });
});

describe("who may use the admin API", () => {
  const routes: Array<[method: string, path: string]> = [
    ["GET", "/v1/deliveries?state=failed"],
    ["GET", "/v1/deliveries/evt_x.flaky"],
    ["POST", "/v1/deliveries/evt_x.flaky/retry"],
    ["POST", "/v1/tenants/acme/endpoints/flaky/recover"],
    ["GET", "/v1/tenants/acme/endpoints"],
    ["POST", "/v1/tenants/acme/endpoints/flaky/disable"],
    ["POST", "/v1/tenants/acme/endpoints/flaky/enable"],
    ["GET", "/v1/unrecognized"],
    ["GET", "/v1/tenants/acme/users/u1/presence"],
    ["GET", "/admin/queues"],
    ["GET", "/admin/queues/api/queues"],
  ];
  const request = (target: Stack, method: string, path: string, authorization?: string) =>
    target.call(path, {
      method,
      headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
      ...(method === "POST" ? { body: JSON.stringify({ since: start }) } : {}),
    });

  it("answers 404 on every admin route when no admin token is configured, even to a token", async () => {
    for (const [method, path] of routes) {
      for (const authorization of [undefined, `Bearer ${ADMIN_TOKEN}`, `Basic ${btoa(`admin:${ADMIN_TOKEN}`)}`]) {
        const res = await request(closed, method, path, authorization);
        expect({ method, path, status: res.status }).toEqual({ method, path, status: 404 });
      }
    }
  });

  it("answers 401 on every admin route without a token or with a wrong one", async () => {
    for (const [method, path] of routes) {
      for (const authorization of [undefined, `Bearer ${ADMIN_TOKEN}x`, "Bearer", `Basic ${btoa("admin:wrong")}`]) {
        const res = await request(stack, method, path, authorization);
        expect({ method, path, authorization, status: res.status }).toEqual({
          method,
          path,
          authorization,
          status: 401,
        });
        expect(res.text).not.toContain(ADMIN_TOKEN);
      }
    }
    // Nothing those requests asked for happened.
    const list = await stack.call("/v1/tenants/acme/endpoints", { headers: admin });
    expect((list.json.endpoints as Array<{ id: string; enabled: boolean }>).every((e) => e.enabled)).toBe(true);
  });

  it("asks a browser for Basic auth on the queue dashboard and shows it with the token as the password", async () => {
    const bare = await stack.call("/admin/queues");
    expect(bare.status).toBe(401);
    expect(bare.headers.get("www-authenticate")).toMatch(/^Basic realm=/);
    const page = await stack.call("/admin/queues", {
      headers: { authorization: `Basic ${btoa(`admin:${ADMIN_TOKEN}`)}` },
    });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(page.text).toContain("<html");
    const api = await stack.call("/admin/queues/api/queues", { headers: admin });
    expect(api.status).toBe(200);
    // One delivery queue per partition, told apart by the partition, then one batch queue per partition.
    const rows = (name: string) => Array.from({ length: 16 }, (_, p) => `p${String(p).padStart(2, "0")}-${name}`);
    expect((api.json.queues as Array<{ name: string }>).map((q) => q.name)).toEqual([
      ...rows("deliveries"),
      ...rows("batches"),
    ]);
  });

  it("never shows the admin token, a Sign or an endpoint secret in any answer it gave", () => {
    for (const text of [...stack.answers, ...closed.answers]) {
      expect(text).not.toContain(ADMIN_TOKEN);
      expect(text).not.toContain("whsec_");
      for (const sign of signs) expect(text).not.toContain(sign);
    }
  });
});

describe("a slow endpoint's batches, as an operator sees them", () => {
  it("counts the batch jobs by state in imrelay_batch_jobs, apart from the delivery jobs", async () => {
    const own = `test-${randomUUID()}`;
    const tenants = {
      acme: {
        tencent: { sdkAppId: SDK_APP_ID, callbackToken: TOKEN },
        endpoints: [{ id: "slow", url: "http://127.0.0.1:9/hooks", secret: webhookSecret() }],
      },
    };
    // No worker: the batch stays waiting.
    const alone = await startStack({ prefix: own, tenants, worker: false });
    const redis = createRedisClient({ url: REDIS_URL }, { maxRetriesPerRequest: null });
    const keys = redisKeys(own);
    const batches = createBatchQueues(redis, keys);
    try {
      const data: DeliveryBatchData = { tenant: "acme", endpointId: "slow", partition: 3, entries: ["1-0", "2-0"] };
      await batches[3]!.add(DELIVERY_BATCH_JOB_NAME, data, { jobId: "batch.metrics" });
      const scraped = parseMetrics((await alone.call("/metrics")).text);
      expect(sampleValue(scraped, "imrelay_batch_jobs", { state: "waiting" })).toBe(1);
      expect(sampleValue(scraped, "imrelay_batch_jobs", { state: "failed" })).toBe(0);
      expect(sampleValue(scraped, "imrelay_queue_jobs", { state: "waiting" })).toBe(0);
    } finally {
      await Promise.all(batches.map((queue) => queue.close()));
      await alone.close();
      await redis.quit();
      await dropKeys(own);
    }
  });
});
