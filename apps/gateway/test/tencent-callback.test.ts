import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  dropPrefix,
  fakeClock,
  fixture,
  fixtureJson,
  metricValue,
  newPrefix,
  post,
  startTestGateway,
  streamEvents,
  type TestGateway,
  testConfig,
} from "./helpers.js";

const prefix = newPrefix();
const TOKEN = "tencent-callback-token-test";
const APP = "1400000000";
const T0 = 1_629_883_332_497;
const clock = fakeClock(T0 + 100);
const json = { "content-type": "application/json" };
let gw: TestGateway;

interface TencentCall {
  tenant?: string;
  user: string;
  action?: "Login" | "Logout" | "Disconnect";
  reason?: string;
  platform?: string;
  at: number;
  kicked?: string[];
  sdkAppId?: string;
  sign?: string | false;
}

/** A State.StateChange callback built from the fixtures, signed the way Tencent signs it. */
function tencentCall(call: TencentCall) {
  const base = fixtureJson<Record<string, unknown>>("tencent-login.json");
  const action = call.action ?? "Login";
  const body: Record<string, unknown> = {
    ...base,
    EventTime: call.at,
    Info: {
      Action: action,
      To_Account: call.user,
      Reason: call.reason ?? (action === "Login" ? "Register" : "LinkClose"),
    },
  };
  if (call.kicked) body.KickedDevice = call.kicked.map((Platform) => ({ Platform }));
  else delete body.KickedDevice;
  const requestTime = String(Math.floor(clock() / 1000));
  const query = new URLSearchParams({
    SdkAppid: call.sdkAppId ?? APP,
    CallbackCommand: "State.StateChange",
    contenttype: "json",
    ClientIP: "127.0.0.1",
    OptPlatform: call.platform ?? "IOS",
  });
  if (call.sign !== false) {
    query.set("RequestTime", requestTime);
    query.set(
      "Sign",
      call.sign ??
        createHash("sha256")
          .update(TOKEN + requestTime)
          .digest("hex"),
    );
  }
  return { path: `/v1/tenants/${call.tenant ?? "acme"}/tencent?${query}`, body: JSON.stringify(body) };
}

async function send(call: TencentCall, headers: Record<string, string> = json) {
  const { path, body } = tencentCall(call);
  return post(`${gw.url}${path}`, body, headers);
}

const events = async (userId: string) => (await streamEvents(gw.redis, gw.keys)).filter((e) => e.userId === userId);
const presence = async (userId: string) =>
  (await (
    await fetch(`${gw.url}/v1/tenants/acme/users/${userId}/presence`, {
      headers: { authorization: "Bearer admin-token-for-tests" },
    })
  ).json()) as {
    online: boolean;
    platforms: Array<{ provider: string; platform: string }>;
  };
const OK = { ActionStatus: "OK", ErrorCode: 0, ErrorInfo: "" };

beforeAll(async () => {
  const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  const config = testConfig(
    {
      tenants: {
        acme: {
          tencent: { sdkAppId: APP, callbackToken: TOKEN },
          openim: { appId: "acme-openim" },
          endpoints: [{ id: "raw", url: "https://acme.example.com/hooks", secret, includeRaw: true }],
        },
        plain: { tencent: { sdkAppId: APP } },
        limited: { tencent: { sdkAppId: APP }, rateLimit: { perSecond: 1 } },
        fenced: { tencent: { sdkAppId: APP, allowIps: ["10.0.0.0/8"] } },
        onlyopenim: { openim: { appId: "x" } },
      },
      gateway: { bodyLimitBytes: 8192 },
      admin: { token: "admin-token-for-tests" },
    },
    prefix,
  );
  gw = await startTestGateway(config, { clock });
});

afterAll(async () => {
  await dropPrefix(gw.redis, prefix);
  await gw.close();
});

describe("Tencent callbacks", () => {
  it("answers OK only once the signed event is on the stream, with raw kept beside it without Sign", async () => {
    const res = await send({ user: "alice", at: T0, kicked: ["Windows"] });
    expect(res).toMatchObject({ status: 200, body: OK });
    const [event] = await events("alice");
    expect(event).toMatchObject({
      type: "user.online",
      tenant: "acme",
      provider: "tencent",
      appId: APP,
      status: "online",
      reason: "login",
      platform: "ios",
      clientIp: "127.0.0.1",
      kickedPlatforms: ["windows"],
      occurredAt: new Date(T0).toISOString(),
      sequence: 1,
      changed: true,
      stale: false,
    });
    expect(event?._raw).toMatchObject({ body: { Info: { To_Account: "alice" } }, query: { SdkAppid: APP } });
    expect((event!._raw as { query: object }).query).not.toHaveProperty("Sign");
    const text = gw.log.lines.join("\n");
    expect(text).not.toContain(TOKEN);
    expect(text).not.toMatch(/"Sign":"[0-9a-f]{64}"/);
  });

  it("collapses an identical callback sent twice into one stream entry", async () => {
    const call = { user: "carol", at: T0 + 1 };
    expect((await send(call)).status).toBe(200);
    expect((await send(call)).status).toBe(200);
    expect(await events("carol")).toHaveLength(1);
  });

  it("keeps an unknown Action for inspection, answers OK and queues nothing", async () => {
    const { path } = tencentCall({ user: "teleporter", at: T0 });
    const res = await post(`${gw.url}${path}`, fixture("tencent-unknown-action.json"), json);
    expect(res).toMatchObject({ status: 200, body: OK });
    expect(await events("testuser316")).toHaveLength(0);
    const kept = (await gw.redis.lrange(gw.keys.unrecognized, 0, -1)).map((s) => JSON.parse(s));
    const record = kept.find((r) => r.provider === "tencent");
    expect(record).toMatchObject({ tenant: "acme", body: { Info: { Action: "Teleport" } }, query: { SdkAppid: APP } });
    expect(record.query).not.toHaveProperty("Sign");
    expect(
      await metricValue(gw.registry, "imrelay_unrecognized_callbacks_total", { tenant: "acme", provider: "tencent" }),
    ).toBe(1);
  });
});

describe("Tencent presence sequences", () => {
  it("keeps a user online through a reconnect without Disconnect (Login, Login)", async () => {
    await send({ user: "reconnect", at: T0 });
    await send({ user: "reconnect", at: T0 + 5000 });
    const got = await events("reconnect");
    expect(got.map((e) => [e.sequence, e.changed, e.stale])).toEqual([
      [1, true, false],
      [2, false, false],
    ]);
    expect(got[1]?.presence.platforms).toEqual([
      { provider: "tencent", platform: "ios", device: null, since: new Date(T0).toISOString() },
    ]);
    expect((await presence("reconnect")).online).toBe(true);
  });

  it("ends with only the new device online when the kicked device's Logout comes after the Login", async () => {
    await send({ user: "kick1", at: T0, platform: "Windows" });
    await send({ user: "kick1", at: T0 + 1000, platform: "IOS", kicked: ["Windows"] });
    await send({ user: "kick1", at: T0 + 1000, platform: "Windows", action: "Logout", reason: "OpenKickInstance" });
    const got = await events("kick1");
    expect(got.map((e) => [e.type, e.reason, e.changed])).toEqual([
      ["user.online", "login", true],
      ["user.online", "login", false],
      ["user.offline", "kicked", false],
    ]);
    expect(got[1]?.presence.platforms.map((p) => p.platform)).toEqual(["ios"]);
    expect(await presence("kick1")).toMatchObject({
      online: true,
      platforms: [{ provider: "tencent", platform: "ios" }],
    });
  });

  it("ends with only the new device online when the kicked device's Logout comes before the Login", async () => {
    await send({ user: "kick2", at: T0, platform: "Windows" });
    await send({ user: "kick2", at: T0 + 1000, platform: "Windows", action: "Logout", reason: "OpenKickInstance" });
    await send({ user: "kick2", at: T0 + 1000, platform: "IOS", kicked: ["Windows"] });
    const got = await events("kick2");
    expect(got.map((e) => [e.type, e.sequence])).toEqual([
      ["user.online", 1],
      ["user.offline", 2],
      ["user.online", 3],
    ]);
    expect(got.at(-1)).toMatchObject({ stale: false, presence: { online: true, platforms: [{ platform: "ios" }] } });
    expect(await presence("kick2")).toMatchObject({
      online: true,
      platforms: [{ provider: "tencent", platform: "ios" }],
    });
  });

  it("keeps the user online when one device disconnects while another is online", async () => {
    await send({ user: "two", at: T0, platform: "IOS" });
    await send({ user: "two", at: T0 + 10, platform: "Android" });
    await send({ user: "two", at: T0 + 20, platform: "IOS", action: "Disconnect", reason: "LinkClose" });
    const last = (await events("two")).at(-1);
    expect(last).toMatchObject({
      type: "user.offline",
      reason: "disconnect",
      changed: false,
      stale: false,
      presence: { online: true, platforms: [{ provider: "tencent", platform: "android" }] },
    });
  });

  it("keeps a user online across providers when Tencent goes offline while OpenIM is online", async () => {
    await send({ user: "both", at: T0, platform: "IOS" });
    const openim = JSON.stringify({ ...fixtureJson("openim-online.json"), userID: "both", seq: T0 + 10 });
    expect((await post(`${gw.url}/v1/tenants/acme/openim/callbackAfterUserOnlineCommand`, openim, json)).status).toBe(
      200,
    );
    await send({ user: "both", at: T0 + 20, platform: "IOS", action: "Logout", reason: "Unregister" });
    const got = await events("both");
    expect(got.map((e) => [e.provider, e.type, e.changed])).toEqual([
      ["tencent", "user.online", true],
      ["openim", "user.online", false],
      ["tencent", "user.offline", false],
    ]);
    expect(got.at(-1)?.presence).toEqual({
      online: true,
      platforms: [{ provider: "openim", platform: "web", device: null, since: new Date(T0 + 10).toISOString() }],
    });
  });
});

describe("refused Tencent callbacks, each in the Tencent envelope", () => {
  const fail = { ActionStatus: "FAIL", ErrorCode: 1, ErrorInfo: expect.any(String) };

  it("answers 400 for a body that is not JSON", async () => {
    const { path } = tencentCall({ user: "m", at: T0 });
    expect(await post(`${gw.url}${path}`, "{not json", json)).toMatchObject({ status: 400, body: fail });
  });

  it("answers 401 when Sign does not match, and when it is missing", async () => {
    const wrong = await send({ user: "m", at: T0, sign: "0".repeat(64) });
    const missing = await send({ user: "m", at: T0, sign: false });
    expect(wrong).toMatchObject({ status: 401, body: fail });
    expect(missing).toMatchObject({ status: 401, body: fail });
    expect(JSON.stringify([wrong.body, missing.body])).not.toContain(TOKEN);
  });

  it("answers 403 when SdkAppid is not the tenant's", async () => {
    expect(await send({ user: "m", at: T0, sdkAppId: "1499999999" })).toMatchObject({ status: 403, body: fail });
  });

  it("answers 403 when the caller is not in allowIps", async () => {
    const res = await send({ tenant: "fenced", user: "m", at: T0, sign: false });
    expect(res).toMatchObject({ status: 403, body: fail });
    expect(res.body.ErrorInfo).toMatch(/allowIps/);
  });

  it("answers 404 for an unknown tenant and for a tenant without a tencent section", async () => {
    expect(await send({ tenant: "nobody", user: "m", at: T0 })).toMatchObject({ status: 404, body: fail });
    expect(await send({ tenant: "onlyopenim", user: "m", at: T0 })).toMatchObject({ status: 404, body: fail });
  });

  it("answers 413 for a body over the limit", async () => {
    const { path } = tencentCall({ user: "m", at: T0 });
    const res = await post(`${gw.url}${path}`, JSON.stringify({ pad: "x".repeat(100_000) }), json);
    expect(res).toMatchObject({ status: 413, body: fail });
  });

  it("answers 415 for a content type that is not JSON, and accepts +json and text/json", async () => {
    expect(await send({ user: "m", at: T0 }, { "content-type": "text/plain" })).toMatchObject({
      status: 415,
      body: fail,
    });
    expect(
      (
        await send(
          { tenant: "plain", user: "vendor", at: T0, sign: false },
          { "content-type": "application/vnd.im+json" },
        )
      ).status,
    ).toBe(200);
    expect(
      (
        await send(
          { tenant: "plain", user: "textjson", at: T0, sign: false },
          { "content-type": "text/json; charset=UTF-8" },
        )
      ).status,
    ).toBe(200);
  });

  it("answers 429 when the tenant is over its rate", async () => {
    const first = await send({ tenant: "limited", user: "r1", at: T0, sign: false });
    const second = await send({ tenant: "limited", user: "r2", at: T0, sign: false });
    expect(first.status).toBe(200);
    expect(second).toMatchObject({ status: 429, body: fail });
    expect(
      await metricValue(gw.registry, "imrelay_callbacks_total", { tenant: "limited", outcome: "rate_limited" }),
    ).toBe(1);
  });
});
