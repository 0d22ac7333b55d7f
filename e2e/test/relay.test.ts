import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  dropPrefix,
  newPrefix,
  newSecret,
  postOpenIm,
  postTencent,
  type Relay,
  redisClient,
  sleep,
  startRelay,
  startSink,
  tencentRequest,
  waitFor,
} from "../src/harness.js";

const prefix = newPrefix();
const secret = newSecret();
const TOKEN = "tencent-callback-token-e2e";
const PASSWORD = "openim-password-e2e";
const redis = redisClient();

let relay: Relay;
let healthy: Awaited<ReturnType<typeof startSink>>;
let flaky: Awaited<ReturnType<typeof startSink>>;
let gone: Awaited<ReturnType<typeof startSink>>;

beforeAll(async () => {
  healthy = await startSink(secret);
  // Fails twice, then recovers.
  flaky = await startSink(secret, (n) => ({ status: n <= 2 ? 500 : 200 }));
  gone = await startSink(secret, () => ({ status: 410 }));
  relay = await startRelay({
    env: { ACME_TENCENT_TOKEN: TOKEN, ACME_OPENIM_PASSWORD: PASSWORD },
    config: {
      redis: { prefix },
      tenants: {
        acme: {
          tencent: { sdkAppId: "1400000000", callbackToken: "${ACME_TENCENT_TOKEN}" },
          openim: { appId: "acme-openim", basicAuth: { username: "openim", password: "${ACME_OPENIM_PASSWORD}" } },
          endpoints: [{ id: "presence", url: healthy.url, secret }],
        },
        flaky: { tencent: { sdkAppId: "1400000001" }, endpoints: [{ id: "flaky", url: flaky.url, secret }] },
        gone: { tencent: { sdkAppId: "1400000002" }, endpoints: [{ id: "gone", url: gone.url, secret }] },
      },
      delivery: { allowPrivateNetworks: true, retrySchedule: ["200ms", "200ms", "200ms"], timeoutMs: 2000 },
    },
  });
});

afterAll(async () => {
  await relay?.stop();
  await Promise.all([healthy?.close(), flaky?.close(), gone?.close()]);
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

const basic = `Basic ${Buffer.from(`openim:${PASSWORD}`).toString("base64")}`;

describe("imrelay start, end to end", () => {
  it("relays a signed Tencent callback to the tenant's endpoint, verifiable with standardwebhooks", async () => {
    const req = tencentRequest({ token: TOKEN, user: "alice", eventTime: Date.now() - 1000, kicked: ["Windows"] });
    const res = await postTencent(relay.url, "acme", req);
    expect(res).toEqual({ status: 200, body: { ActionStatus: "OK", ErrorCode: 0, ErrorInfo: "" } });

    const got = await waitFor(
      () => healthy.received.find((r) => r.payload.data.userId === "alice"),
      10_000,
      "delivery",
    );
    expect(got.verified).toBe(true);
    expect(got.headers["content-type"]).toMatch(/^application\/json/);
    expect(got.headers["webhook-id"]).toBe(got.payload.data.id);
    expect(got.headers["webhook-signature"]).toMatch(/^v1,/);
    expect(got.payload.type).toBe("user.online");
    expect(got.payload.timestamp).toBe(got.payload.data.occurredAt);
    expect(got.payload.data).toMatchObject({
      type: "user.online",
      tenant: "acme",
      provider: "tencent",
      appId: "1400000000",
      userId: "alice",
      status: "online",
      reason: "login",
      platform: "ios",
      clientIp: "127.0.0.1",
      kickedPlatforms: ["windows"],
      sequence: 1,
      changed: true,
      stale: false,
      presence: { online: true, platforms: [{ provider: "tencent", platform: "ios" }] },
    });
    expect(got.payload.data).not.toHaveProperty("raw");
  });

  it("relays OpenIM v3.8 path-style and legacy ?command= callbacks with Basic auth", async () => {
    const seq = Date.now();
    const body = {
      operationID: "op-1",
      platformID: 2,
      platform: "Android",
      userID: "bob",
      seq,
      isAppBackground: false,
      connID: "",
    };
    const res = await postOpenIm(relay.url, "acme", "callbackAfterUserOnlineCommand", body, { authorization: basic });
    expect(res).toEqual({ status: 200, body: { actionCode: 0, errCode: 0, errMsg: "", errDlt: "", nextCode: 0 } });

    const legacy = await fetch(
      `${relay.url}/v1/tenants/acme/openim?command=callbackUserOfflineCommand&contenttype=json`,
      {
        method: "POST",
        headers: { "content-type": "application/json", authorization: basic },
        body: JSON.stringify({
          callbackCommand: "callbackUserOfflineCommand",
          userID: "bob",
          platformID: 2,
          seq: seq + 10,
          connID: "",
        }),
      },
    );
    expect(legacy.status).toBe(200);

    await waitFor(
      () => healthy.received.filter((r) => r.payload.data.userId === "bob").length === 2,
      10_000,
      "2 deliveries",
    );
    const bob = healthy.received.filter((r) => r.payload.data.userId === "bob").map((r) => r.payload.data);
    bob.sort((a, b) => (a.sequence as number) - (b.sequence as number));
    expect(bob[0]).toMatchObject({
      type: "user.online",
      provider: "openim",
      appId: "acme-openim",
      platform: "android",
      background: false,
      connectionId: null,
    });
    expect(bob[1]).toMatchObject({
      type: "user.offline",
      reason: "disconnect",
      sequence: 2,
      changed: true,
      presence: { online: false, platforms: [] },
    });
  });

  it("collapses an identical callback sent twice into one delivery", async () => {
    const req = tencentRequest({ token: TOKEN, user: "carol", eventTime: Date.now() - 500 });
    expect((await postTencent(relay.url, "acme", req)).status).toBe(200);
    expect((await postTencent(relay.url, "acme", req)).status).toBe(200);
    await waitFor(() => healthy.received.some((r) => r.payload.data.userId === "carol"), 10_000, "delivery");
    await sleep(500);
    expect(healthy.received.filter((r) => r.payload.data.userId === "carol")).toHaveLength(1);
  });

  it("retries a failing endpoint with the same webhook-id until it recovers", async () => {
    const req = tencentRequest({ sdkAppId: "1400000001", user: "dave" });
    expect((await postTencent(relay.url, "flaky", req)).status).toBe(200);
    await waitFor(() => flaky.received.length >= 3, 15_000, "three attempts");
    await sleep(600);
    expect(flaky.received).toHaveLength(3);
    expect(new Set(flaky.ids()).size).toBe(1);
    expect(flaky.received.every((r) => r.verified)).toBe(true);
  });

  it("stops retrying and disables the endpoint on 410 Gone", async () => {
    expect(
      (await postTencent(relay.url, "gone", tencentRequest({ sdkAppId: "1400000002", user: "erin" }))).status,
    ).toBe(200);
    await waitFor(() => gone.received.length === 1, 10_000, "the first attempt");
    expect(
      (await postTencent(relay.url, "gone", tencentRequest({ sdkAppId: "1400000002", user: "frank" }))).status,
    ).toBe(200);
    await sleep(1500);
    expect(gone.received).toHaveLength(1);
    const disabled = await redis.hgetall(`${prefix}:disabled`);
    expect(Object.keys(disabled)).toEqual(["gone:gone"]);
  });

  it("refuses bad callbacks with the vendor's envelope and the contract's status, queueing nothing", async () => {
    const before = healthy.received.length;
    const fail = { ActionStatus: "FAIL", ErrorCode: 1 };
    const ok = tencentRequest({ token: TOKEN, user: "mallory" });

    const malformed = await postTencent(relay.url, "acme", { query: ok.query, body: "{not json" });
    expect(malformed.status).toBe(400);
    expect(malformed.body).toMatchObject(fail);

    const wrongSign = await postTencent(relay.url, "acme", {
      query: { ...ok.query, Sign: "0".repeat(64) },
      body: ok.body,
    });
    expect(wrongSign.status).toBe(401);
    expect(wrongSign.body).toMatchObject(fail);

    const wrongApp = await postTencent(relay.url, "acme", tencentRequest({ token: TOKEN, sdkAppId: "1499999999" }));
    expect(wrongApp.status).toBe(403);

    const unknownTenant = await postTencent(relay.url, "nobody", ok);
    expect(unknownTenant.status).toBe(404);
    expect(unknownTenant.body).toMatchObject(fail);

    const huge = await postTencent(relay.url, "acme", {
      query: ok.query,
      body: JSON.stringify({ pad: "x".repeat(200_000) }),
    });
    expect(huge.status).toBe(413);
    expect(huge.body).toMatchObject(fail);

    const notJson = await postTencent(relay.url, "acme", ok, { "content-type": "text/plain" });
    expect(notJson.status).toBe(415);

    const noAuth = await postOpenIm(relay.url, "acme", "callbackAfterUserOnlineCommand", {
      userID: "mallory",
      seq: Date.now(),
    });
    expect(noAuth.status).toBe(401);
    expect(noAuth.body).toMatchObject({ errMsg: expect.any(String) });

    for (const res of [malformed, wrongSign, wrongApp, unknownTenant, huge, notJson, noAuth]) {
      const text = JSON.stringify(res.body);
      expect(text).not.toContain(TOKEN);
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toMatch(/\bat .*\.js:\d+/);
    }
    await sleep(800);
    expect(healthy.received.length).toBe(before);
    expect(healthy.received.some((r) => r.payload.data.userId === "mallory")).toBe(false);
    expect(relay.child.exitCode).toBeNull();
  });

  it("answers healthz and readyz while Redis is up, and never logs a secret", async () => {
    expect((await fetch(`${relay.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${relay.url}/readyz`)).status).toBe(200);
    const all = relay.logs.join("\n");
    expect(all).not.toContain(TOKEN);
    expect(all).not.toContain(PASSWORD);
    expect(all).not.toContain(secret.slice(6));
  });
});
