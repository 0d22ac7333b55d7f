import { signAgoraBody } from "@imrelay/agora-adapter";
import { CallbackError, defineVendor, eventId, isoTime } from "@imrelay/core";
import { neteaseRequest } from "@imrelay/netease-adapter";
import { allPartitions, redisKeys } from "@imrelay/store";
import { VENDORS } from "@imrelay/vendors";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as z from "zod";
import { newPrefix, newRedis } from "./helpers.js";
import { dropKeys, type Sink, type Stack, startSink, startStack, waitFor, webhookSecret } from "./stack.js";

/**
 * A vendor that exists only in this file: its descriptor is all the gateway
 * gets, and the config, route, presence model and envelope follow from it.
 * Body: `{"user":"…","state":"on"|"off","at":<ms>,"device":"…"}`, with
 * `x-acme-token` when the section has a token.
 */
const AcmeSection = z.object({ appId: z.string().min(1), token: z.string().min(1).optional() }).strict();
const acmechat = defineVendor<z.output<typeof AcmeSection>, "acmechat">({
  provider: "acmechat",
  displayName: "Acme Chat (test-only)",
  section: AcmeSection,
  secrets: { config: ["token"], headers: ["x-acme-token"] },
  presence: { renews: false, devices: true },
  route: { commandSegment: false },
  handle(request, { tenant, section, now }) {
    if (section.token !== undefined && request.headers["x-acme-token"] !== section.token) {
      throw new CallbackError("CREDENTIALS_INVALID", "x-acme-token does not match");
    }
    const body = JSON.parse(Buffer.from(request.body).toString("utf8")) as {
      user: string;
      state: "on" | "off";
      at: number;
      device?: string;
    };
    const online = body.state === "on";
    return {
      events: [
        {
          id: eventId({ tenant, provider: "acmechat", appId: section.appId, callback: body }),
          type: online ? "user.online" : "user.offline",
          tenant,
          provider: "acmechat",
          appId: section.appId,
          userId: body.user,
          status: online ? "online" : "offline",
          reason: online ? "login" : "logout",
          platform: "web",
          clientIp: null,
          connectionId: body.device ?? null,
          background: null,
          kickedPlatforms: [],
          customStatus: null,
          occurredAt: isoTime(body.at),
          receivedAt: isoTime(now),
        },
      ],
      unrecognized: false,
      response: { ok: true },
    };
  },
  fail: ({ code, message }) => ({ ok: false, code, message }),
  appId: (section) => section.appId,
  describe: (section) => `appId ${section.appId}`,
});

const T0 = Date.now() - 60_000;
const SECRET = webhookSecret();

function verified(sink: Sink) {
  const wh = new Webhook(SECRET);
  return sink.requests.map(
    (r) =>
      wh.verify(r.body, {
        "webhook-id": String(r.headers["webhook-id"]),
        "webhook-timestamp": String(r.headers["webhook-timestamp"]),
        "webhook-signature": String(r.headers["webhook-signature"]),
      }) as { data: Record<string, unknown> & { presence: { online: boolean; platforms: unknown[] } } },
  );
}

describe("a vendor known only by its descriptor", () => {
  const prefix = newPrefix();
  let sink: Sink;
  let stack: Stack;

  beforeAll(async () => {
    sink = await startSink(200);
    stack = await startStack({
      prefix,
      vendors: [...VENDORS, acmechat],
      tenants: {
        acme: {
          acmechat: { appId: "acme-app", token: "t0ken-for-tests" },
          endpoints: [{ id: "hook", url: sink.url, secret: SECRET }],
        } as never,
      },
    });
  });
  afterAll(async () => {
    await stack.close();
    await sink.close();
    await dropKeys(prefix);
  });

  const post = (body: object, token = "t0ken-for-tests") =>
    stack.call("/v1/tenants/acme/acmechat", {
      method: "POST",
      headers: { "content-type": "application/json", "x-acme-token": token },
      body: JSON.stringify(body),
    });

  it("is configured, routed, ingested per device and delivered signed, with its own envelope", async () => {
    expect(await post({ user: "zoe", state: "on", at: T0, device: "tab-1" })).toMatchObject({
      status: 200,
      json: { ok: true },
    });
    expect((await post({ user: "zoe", state: "on", at: T0 + 1, device: "tab-2" })).status).toBe(200);
    expect((await post({ user: "zoe", state: "off", at: T0 + 2, device: "tab-1" })).status).toBe(200);

    await waitFor(() => sink.requests.length === 3, "three deliveries");
    const [first, second, third] = verified(sink).sort((a, b) => Number(a.data.sequence) - Number(b.data.sequence));
    expect(first!.data).toMatchObject({ provider: "acmechat", appId: "acme-app", userId: "zoe", changed: true });
    expect(second!.data).toMatchObject({ changed: false });
    // One of two devices of the same platform went: the user is still online on the other.
    expect(third!.data).toMatchObject({ type: "user.offline", changed: false, stale: false });
    expect(third!.data.presence).toEqual({
      online: true,
      platforms: [{ provider: "acmechat", platform: "web", device: "tab-2", since: isoTime(T0 + 1) }],
    });
  });

  it("refuses in its own envelope, and keeps its secret out of the logs", async () => {
    const refused = await post({ user: "zoe", state: "on", at: T0 + 5 }, "wrong");
    expect(refused.status).toBe(401);
    expect(refused.json).toEqual({ ok: false, code: "CREDENTIALS_INVALID", message: "x-acme-token does not match" });
    expect(stack.log.lines.join("\n")).not.toContain("t0ken-for-tests");
  });

  it("is not served by a gateway whose registry lacks it", async () => {
    const other = newPrefix();
    const plain = await startStack({ prefix: other, worker: false, tenants: { t: { openim: { appId: "x" } } } });
    try {
      const res = await plain.call("/v1/tenants/t/acmechat", { method: "POST", body: "{}" });
      expect(res.status).toBe(404);
    } finally {
      await plain.close();
      await dropKeys(other);
    }
  });
});

describe("NetEase and Agora/Easemob through the gateway", () => {
  const prefix = newPrefix();
  const APP_KEY = "0123456789abcdef0123456789abcdef";
  const APP_SECRET = "c8c1d3e5a7f9";
  const AGORA_KEY = "61000000#acme";
  const AGORA_SECRET = "s3cr3t-rule";
  let sink: Sink;
  let stack: Stack;

  beforeAll(async () => {
    sink = await startSink(200);
    stack = await startStack({
      prefix,
      tenants: {
        acme: {
          netease: { appKey: APP_KEY, appSecret: APP_SECRET },
          agora: { appKey: AGORA_KEY, secret: AGORA_SECRET },
          endpoints: [{ id: "hook", url: sink.url, secret: SECRET }],
        },
      },
    });
  });
  afterAll(async () => {
    await stack.close();
    await sink.close();
    await dropKeys(prefix);
  });

  const netease = (input: Parameters<typeof neteaseRequest>[0]) => {
    const request = neteaseRequest({ appKey: APP_KEY, appSecret: APP_SECRET, ...input });
    return stack.call("/v1/tenants/acme/netease", { method: "POST", headers: request.headers, body: request.body });
  };
  const agora = (input: Omit<Parameters<typeof signAgoraBody>[0], "appKey" | "secret">) =>
    stack.call("/v1/tenants/acme/agora", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: signAgoraBody({ appKey: AGORA_KEY, secret: AGORA_SECRET, ...input }),
    });
  const presence = async (userId: string) =>
    (await waitFor(async () => {
      const events = verified(sink).filter((e) => e.data.userId === userId);
      return events.length ? events : undefined;
    }, `events of ${userId}`)) as ReturnType<typeof verified>;

  it("keeps an Agora user's iOS presence while one of two iPhones stays, and drops it with the last", async () => {
    await agora({ userId: "bob_smith", os: "ios", deviceId: "phone-a", timestamp: T0 });
    await agora({ userId: "bob_smith", os: "ios", deviceId: "phone-b", timestamp: T0 + 10 });
    const gone = await agora({
      userId: "bob_smith",
      os: "ios",
      deviceId: "phone-a",
      reason: "logout",
      timestamp: T0 + 20,
    });
    expect(gone).toMatchObject({ status: 200, json: { status: "ok" } });
    await waitFor(() => verified(sink).filter((e) => e.data.userId === "bob_smith").length === 3, "three events");
    const last = (await presence("bob_smith")).sort((a, b) => Number(a.data.sequence) - Number(b.data.sequence))[2]!;
    expect(last.data).toMatchObject({ type: "user.offline", changed: false, connectionId: "ios_phone-a" });
    expect(last.data.presence.platforms).toEqual([
      { provider: "agora", platform: "ios", device: "ios_phone-b", since: isoTime(T0 + 10) },
    ]);

    await agora({ userId: "bob_smith", os: "ios", deviceId: "phone-b", reason: "logout", timestamp: T0 + 30 });
    await waitFor(() => verified(sink).filter((e) => e.data.userId === "bob_smith").length === 4, "the last offline");
    const final = (await presence("bob_smith")).find((e) => e.data.sequence === 4)!;
    expect(final.data).toMatchObject({ changed: true, presence: { online: false, platforms: [] } });
  });

  it("takes every NetEase device of a platform offline on a logout that names none, and keeps older copies stale", async () => {
    await netease({ accid: "nina", clientType: "IOS", deviceId: "d1", timestamp: T0 });
    await netease({ accid: "nina", clientType: "IOS", deviceId: "d2", timestamp: T0 + 10 });
    const out = await netease({ eventType: 3, accid: "nina", clientType: "IOS", timestamp: T0 + 20 });
    expect(out).toMatchObject({ status: 200, json: { code: 200 } });
    // A login copy of d1 older than that logout arrives late: stale, and nothing changes.
    await netease({ accid: "nina", clientType: "IOS", deviceId: "d1", timestamp: T0 + 15 });
    await waitFor(() => verified(sink).filter((e) => e.data.userId === "nina").length === 4, "four events");
    const events = (await presence("nina")).sort((a, b) => Number(a.data.sequence) - Number(b.data.sequence));
    expect(events[2]!.data).toMatchObject({ type: "user.offline", changed: true, presence: { online: false } });
    expect(events[3]!.data).toMatchObject({ type: "user.online", stale: true, presence: { online: false } });
  });

  it("answers NetEase's URL probe OK without an event, and refuses a wrong CheckSum in NetEase's envelope", async () => {
    const before = sink.requests.length;
    expect(await netease({ body: "{}" })).toMatchObject({ status: 200, json: { code: 200 } });
    const forged = neteaseRequest({ appKey: APP_KEY, appSecret: "not-the-secret", accid: "mallory" });
    const res = await stack.call("/v1/tenants/acme/netease", {
      method: "POST",
      headers: forged.headers,
      body: forged.body,
    });
    expect(res.status).toBe(401);
    expect(res.json).toMatchObject({ code: 401 });
    expect(sink.requests.length).toBe(before);
  });

  it("never schedules NetEase or Agora presence for expiry (they never renew)", async () => {
    await netease({ accid: "olga", clientType: "AOS", deviceId: "d9", timestamp: T0 + 40 });
    await agora({ userId: "olga", os: "android", deviceId: "p9", timestamp: T0 + 40 });
    await waitFor(() => verified(sink).filter((e) => e.data.userId === "olga").length === 2, "olga online twice");
    const redis = newRedis();
    try {
      const keys = redisKeys(prefix);
      for (const p of allPartitions(keys)) expect(await redis.zcard(keys.expiry(p))).toBe(0);
    } finally {
      redis.disconnect();
    }
  });
});
