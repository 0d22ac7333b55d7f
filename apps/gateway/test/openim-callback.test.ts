import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  dropPrefix,
  expiryKey,
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
const PASSWORD = "openim-secret-password";
const basic = `Basic ${Buffer.from(`openim:${PASSWORD}`).toString("base64")}`;
const json = { "content-type": "application/json; charset=utf-8" };
const SEQ = 1_751_440_000_000;
const clock = fakeClock(SEQ + 50);
let gw: TestGateway;

const online = (userId: string, seq: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ ...fixtureJson("openim-online.json"), userID: userId, seq, ...extra });
const offline = (userId: string, seq: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ ...fixtureJson("openim-offline.json"), userID: userId, seq, ...extra });

const url = (path: string) => `${gw.url}/v1/tenants${path}`;
const events = async (userId: string) => (await streamEvents(gw.redis, gw.keys)).filter((e) => e.userId === userId);

beforeAll(async () => {
  const config = testConfig(
    {
      tenants: {
        acme: {
          openim: { appId: "acme-openim", basicAuth: { username: "openim", password: PASSWORD } },
          endpoints: [],
        },
        open: { openim: { appId: "open-openim" } },
        limited: { openim: { appId: "limited" }, rateLimit: { perSecond: 1, burst: 2 } },
        onlytencent: { tencent: { sdkAppId: "1400000000" } },
      },
      gateway: { bodyLimitBytes: 4096 },
    },
    prefix,
  );
  gw = await startTestGateway(config, { clock });
});

afterAll(async () => {
  await dropPrefix(gw.redis, prefix);
  await gw.close();
});

describe("OpenIM callbacks", () => {
  it("answers OK only once the event is on the stream (v3.8 path-style command)", async () => {
    const res = await post(url("/acme/openim/callbackAfterUserOnlineCommand"), fixture("openim-online.json"), {
      ...json,
      authorization: basic,
      operationID: "op-42",
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ actionCode: 0, errCode: 0, errMsg: "", errDlt: "", nextCode: 0 });
    const [event] = await events("u1");
    expect(event).toMatchObject({
      type: "user.online",
      tenant: "acme",
      provider: "openim",
      appId: "acme-openim",
      platform: "web",
      occurredAt: new Date(SEQ).toISOString(),
      sequence: 1,
      changed: true,
      stale: false,
      presence: {
        online: true,
        platforms: [{ provider: "openim", platform: "web", device: null, since: new Date(SEQ).toISOString() }],
      },
    });
    const line = gw.log.json().find((l) => l.eventId === event!.id)!;
    expect(line).toMatchObject({
      tenant: "acme",
      provider: "openim",
      userId: "u1",
      outcome: "queued",
      status: 200,
      operationId: "op-42",
    });
    expect(typeof line.durationMs).toBe("number");
  });

  it("accepts a command after a double slash and a legacy ?command= query", async () => {
    const a = await post(url("/open/openim//callbackAfterUserOnlineCommand"), online("slashy", SEQ), json);
    const b = await post(
      url("/open/openim?command=callbackUserOfflineCommand&contenttype=json"),
      offline("slashy", SEQ + 10),
      json,
    );
    expect([a.status, b.status]).toEqual([200, 200]);
    expect((await events("slashy")).map((e) => [e.type, e.reason, e.sequence])).toEqual([
      ["user.online", "login", 1],
      ["user.offline", "disconnect", 2],
    ]);
  });

  it("accepts a callback with no content-type", async () => {
    const res = await fetch(url("/open/openim/callbackAfterUserOnlineCommand"), {
      method: "POST",
      body: new TextEncoder().encode(online("no-type", SEQ)),
    });
    expect(res.status).toBe(200);
    expect(await events("no-type")).toHaveLength(1);
  });

  it("collapses the same callback sent twice into one stream entry", async () => {
    const body = online("twice", SEQ);
    expect((await post(url("/open/openim/callbackAfterUserOnlineCommand"), body, json)).status).toBe(200);
    expect((await post(url("/open/openim/callbackAfterUserOnlineCommand"), body, json)).status).toBe(200);
    expect(await events("twice")).toHaveLength(1);
    expect(await metricValue(gw.registry, "imrelay_callbacks_total", { tenant: "open", outcome: "duplicate" })).toBe(1);
  });

  it("marks an online that arrives after a newer offline as stale, and leaves the user offline", async () => {
    const off = await post(url("/open/openim/callbackAfterUserOfflineCommand"), offline("late", SEQ + 200), json);
    const on = await post(url("/open/openim/callbackAfterUserOnlineCommand"), online("late", SEQ + 100), json);
    expect([off.status, on.status]).toEqual([200, 200]);
    const [first, second] = await events("late");
    expect(first).toMatchObject({ type: "user.offline", stale: false, sequence: 1, presence: { online: false } });
    expect(second).toMatchObject({
      type: "user.online",
      stale: true,
      changed: false,
      sequence: 2,
      presence: { online: false, platforms: [] },
    });
    expect(
      await gw.redis.zscore(expiryKey(gw.keys, "open", "late"), JSON.stringify(["open", "late", "openim", "web"])),
    ).toBeNull();
  });

  it("counts renewals of an online platform and does not queue them", async () => {
    // Each renewal arrives when it was sent, 10 minutes apart (a vendor time far ahead of the clock is not believed).
    for (const seq of [SEQ, SEQ + 600_000, SEQ + 1_200_000]) {
      clock.set(seq + 50);
      expect(
        (await post(url("/open/openim/callbackAfterUserOnlineCommand"), online("renewing", seq), json)).status,
      ).toBe(200);
    }
    expect(await events("renewing")).toHaveLength(1);
    expect(await metricValue(gw.registry, "imrelay_renewals_suppressed_total", { tenant: "open" })).toBe(2);
    expect(await metricValue(gw.registry, "imrelay_callbacks_total", { tenant: "open", outcome: "renewal" })).toBe(2);
    expect(
      Number(
        await gw.redis.zscore(
          expiryKey(gw.keys, "open", "renewing"),
          JSON.stringify(["open", "renewing", "openim", "web"]),
        ),
      ),
    ).toBe(SEQ + 1_200_000 + gw.config.presence.openimExpiry);
    clock.set(SEQ + 50);
  });

  it("gives one user strictly increasing sequences", async () => {
    const steps = [online("counter", SEQ, { platformID: 1 }), online("counter", SEQ + 1, { platformID: 2 })];
    steps.push(offline("counter", SEQ + 2, { platformID: 1 }), offline("counter", SEQ + 3, { platformID: 2 }));
    for (const body of steps) {
      const command = body.includes("Online") ? "callbackAfterUserOnlineCommand" : "callbackAfterUserOfflineCommand";
      expect((await post(url(`/open/openim/${command}`), body, json)).status).toBe(200);
    }
    const got = await events("counter");
    expect(got.map((e) => e.sequence)).toEqual([1, 2, 3, 4]);
    expect(got.map((e) => e.changed)).toEqual([true, false, false, true]);
    expect(got.at(-1)?.presence).toEqual({ online: false, platforms: [] });
  });

  it("keeps an unknown command for inspection, answers OK and queues nothing", async () => {
    const body = JSON.stringify({
      callbackCommand: "callbackAfterUserTeleportCommand",
      userID: "teleporter",
      seq: SEQ,
    });
    const res = await post(url("/open/openim/callbackAfterUserTeleportCommand?Sign=abc&x=1"), body, json);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ actionCode: 0 });
    expect(await events("teleporter")).toHaveLength(0);
    const [kept] = (await gw.redis.lrange(gw.keys.unrecognized, 0, 0)).map((s) => JSON.parse(s));
    expect(kept).toMatchObject({
      tenant: "open",
      provider: "openim",
      reason: expect.stringContaining("callbackAfterUserTeleportCommand"),
      body: { userID: "teleporter" },
      query: { x: "1" },
      receivedAt: new Date(clock()).toISOString(),
    });
    expect(kept.query).not.toHaveProperty("Sign");
    expect(
      await metricValue(gw.registry, "imrelay_unrecognized_callbacks_total", { tenant: "open", provider: "openim" }),
    ).toBe(1);
  });
});

describe("refused OpenIM callbacks, each in the OpenIM envelope", () => {
  const fail = (status: number, code: string) => ({
    actionCode: 1,
    errCode: status,
    errDlt: code,
    errMsg: expect.any(String),
    nextCode: 0,
  });

  it("answers 401 when Basic auth is configured and missing", async () => {
    const res = await post(url("/acme/openim/callbackAfterUserOnlineCommand"), online("nobasic", SEQ), json);
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ actionCode: 1, errCode: 401 });
    expect(await events("nobasic")).toHaveLength(0);
  });

  it("answers 401 when the Basic auth password is wrong, without echoing it", async () => {
    const wrong = `Basic ${Buffer.from("openim:guess-guess").toString("base64")}`;
    const res = await post(url("/acme/openim/callbackAfterUserOnlineCommand"), online("wrongbasic", SEQ), {
      ...json,
      authorization: wrong,
    });
    expect(res.status).toBe(401);
    expect(JSON.stringify(res.body)).not.toContain("guess-guess");
    expect(gw.log.lines.join("\n")).not.toContain(PASSWORD);
  });

  it("answers 404 for an unknown tenant and for a tenant without an openim section", async () => {
    const unknown = await post(url("/nobody/openim/callbackAfterUserOnlineCommand"), online("x", SEQ), json);
    const tencentOnly = await post(url("/onlytencent/openim/callbackAfterUserOnlineCommand"), online("x", SEQ), json);
    expect(unknown).toMatchObject({ status: 404, body: fail(404, "UNKNOWN_TENANT") });
    expect(tencentOnly).toMatchObject({ status: 404, body: fail(404, "UNKNOWN_TENANT") });
    expect(
      await metricValue(gw.registry, "imrelay_callbacks_total", { tenant: "_unknown", outcome: "unknown_tenant" }),
    ).toBe(1);
  });

  it("answers 400 for a body that is not JSON", async () => {
    const res = await post(url("/open/openim/callbackAfterUserOnlineCommand"), "{not json", json);
    expect(res).toMatchObject({ status: 400, body: fail(400, "MALFORMED_BODY") });
  });

  it("answers 415 for a content type that is not JSON", async () => {
    const res = await post(url("/open/openim/callbackAfterUserOnlineCommand"), online("typed", SEQ), {
      "content-type": "text/plain",
    });
    expect(res).toMatchObject({ status: 415, body: fail(415, "UNSUPPORTED_MEDIA_TYPE") });
    expect(await events("typed")).toHaveLength(0);
  });

  it("answers 413 for a body over the limit, and keeps answering the next request", async () => {
    const huge = JSON.stringify({ userID: "huge", seq: SEQ, pad: "x".repeat(200_000) });
    const res = await post(url("/open/openim/callbackAfterUserOnlineCommand"), huge, json);
    expect(res).toMatchObject({ status: 413, body: fail(413, "PAYLOAD_TOO_LARGE") });
    // Without a content-length the body is refused while it streams in.
    const chunked = await fetch(url("/open/openim/callbackAfterUserOnlineCommand"), {
      method: "POST",
      headers: json,
      body: new Blob([huge]).stream(),
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(await chunked.json()).toMatchObject(fail(413, "PAYLOAD_TOO_LARGE"));
    expect(
      (await post(url("/open/openim/callbackAfterUserOnlineCommand"), online("after-huge", SEQ), json)).status,
    ).toBe(200);
    expect(await events("huge")).toHaveLength(0);
  });

  it("answers 429 once a tenant is over its rate, and again after the bucket refills", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      statuses.push(
        (await post(url("/limited/openim/callbackAfterUserOnlineCommand"), online(`rl${i}`, SEQ), json)).status,
      );
    }
    expect(statuses).toEqual([200, 200, 429]);
    const limited = await post(url("/limited/openim/callbackAfterUserOnlineCommand"), online("rl9", SEQ), json);
    expect(limited.body).toMatchObject(fail(429, "RATE_LIMITED"));
    clock.advance(1000);
    expect((await post(url("/limited/openim/callbackAfterUserOnlineCommand"), online("rl10", SEQ), json)).status).toBe(
      200,
    );
  });
});
