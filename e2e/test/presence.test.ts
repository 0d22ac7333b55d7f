import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  adminRequest,
  dropPrefix,
  metricValue,
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

/*
 * Scripted vendor sequences replayed against one running `imrelay start`:
 * the presence each ends in (admin API) and the events delivered on the way
 * (`all` gets every event, `flips` only those with changed: true).
 */

const prefix = newPrefix();
const TENANT = "acme";
const SDK_APP_ID = "1400000000";
const ADMIN_TOKEN = "presence-e2e-admin-token";
const EXPIRY_MS = 2_000;
const allSecret = newSecret();
const flipsSecret = newSecret();
const redis = redisClient();

let relay: Relay;
let all: Awaited<ReturnType<typeof startSink>>;
let flips: Awaited<ReturnType<typeof startSink>>;

beforeAll(async () => {
  all = await startSink(allSecret);
  flips = await startSink(flipsSecret);
  relay = await startRelay({
    config: {
      redis: { prefix },
      admin: { token: ADMIN_TOKEN },
      tenants: {
        [TENANT]: {
          tencent: { sdkAppId: SDK_APP_ID },
          openim: { appId: "acme-openim" },
          endpoints: [
            { id: "all", url: all.url, secret: allSecret },
            { id: "flips", url: flips.url, secret: flipsSecret, changesOnly: true },
          ],
        },
      },
      presence: { openimExpiry: "2s", sweepInterval: "200ms" },
      delivery: { allowPrivateNetworks: true, retrySchedule: ["200ms", "200ms"], timeoutMs: 2000 },
    },
  });
});

afterAll(async () => {
  await relay?.stop();
  await Promise.all([all?.close(), flips?.close()]);
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

interface PresencePlatform {
  provider: string;
  platform: string;
  since: string;
}

interface Delivered {
  id: string;
  type: string;
  provider: string;
  userId: string;
  status?: string;
  reason: string;
  platform: string;
  occurredAt: string;
  sequence: number;
  changed: boolean;
  stale: boolean;
  presence: { online: boolean; platforms: PresencePlatform[] };
}

type Sink = typeof all;

const iso = (ms: number) => new Date(ms).toISOString();

/** A user's deliveries at one sink, deduped on webhook-id (at-least-once) and put in sequence order. */
function eventsOf(sink: Sink, userId: string): Delivered[] {
  const byId = new Map<string, Delivered>();
  for (const r of sink.received) {
    const data = r.payload.data as unknown as Delivered;
    if (data.userId !== userId) continue;
    expect(r.verified, "every delivery verifies with its endpoint's secret").toBe(true);
    byId.set(data.id, data);
  }
  return [...byId.values()].sort((a, b) => a.sequence - b.sequence);
}

/**
 * Waits until `all` holds `allCount` and `flips` `flipsCount` events of the
 * user, then a little longer, so an extra delivery would be seen too.
 */
async function settled(userId: string, allCount: number, flipsCount: number, quietMs = 300) {
  await waitFor(() => eventsOf(all, userId).length >= allCount, 10_000, `${allCount} events of ${userId} at all`);
  await waitFor(
    () => eventsOf(flips, userId).length >= flipsCount,
    10_000,
    `${flipsCount} events of ${userId} at flips`,
  );
  await sleep(quietMs);
  const got = { all: eventsOf(all, userId), flips: eventsOf(flips, userId) };
  expect(got.all).toHaveLength(allCount);
  expect(got.flips).toHaveLength(flipsCount);
  expectWellFormed(got.all);
  expect(got.flips.every((e) => e.changed)).toBe(true);
  expect(got.flips.map((e) => e.id)).toEqual(got.all.filter((e) => e.changed).map((e) => e.id));
  return got;
}

/** Sequences strictly increase and every event carries the presence after it. */
function expectWellFormed(events: Delivered[]) {
  for (let i = 1; i < events.length; i++) expect(events[i]!.sequence).toBeGreaterThan(events[i - 1]!.sequence);
  for (const e of events) {
    expect(e.presence).toEqual({ online: expect.any(Boolean), platforms: expect.any(Array) });
    expect(e.presence.online).toBe(e.presence.platforms.length > 0);
    expect(typeof e.changed).toBe("boolean");
    expect(typeof e.stale).toBe("boolean");
  }
}

/** The fields a presence scenario is about, one line per event. */
const summary = (events: Delivered[]) =>
  events.map((e) => ({
    type: e.type,
    reason: e.reason,
    platform: e.platform,
    changed: e.changed,
    stale: e.stale,
    online: e.presence.online,
  }));

const onlineOn = (presence: { platforms: PresencePlatform[] }) =>
  presence.platforms.map((p) => `${p.provider}/${p.platform}`);

async function presenceOf(userId: string) {
  const res = await adminRequest(relay.url, ADMIN_TOKEN, `/v1/tenants/${TENANT}/users/${userId}/presence`);
  expect(res.status).toBe(200);
  return res.body as unknown as { userId: string; online: boolean; platforms: PresencePlatform[]; sequence: number };
}

async function tencent(
  userId: string,
  platform: string,
  action: string,
  reason: string,
  eventTime: number,
  kicked?: string[],
) {
  const req = tencentRequest({
    sdkAppId: SDK_APP_ID,
    user: userId,
    platform,
    action,
    reason,
    eventTime,
    ...(kicked ? { kicked } : {}),
  });
  const res = await postTencent(relay.url, TENANT, req);
  expect(res).toEqual({ status: 200, body: { ActionStatus: "OK", ErrorCode: 0, ErrorInfo: "" } });
}

const OPENIM_PLATFORMS: Record<number, string> = { 1: "IOS", 2: "Android", 5: "Web" };
const OPENIM_COMMANDS = {
  online: "callbackAfterUserOnlineCommand",
  offline: "callbackAfterUserOfflineCommand",
  kickoff: "callbackAfterUserKickOffCommand",
} as const;

/** An OpenIM v3.8 callback in its real shape: offline has no isAppBackground, kick-off no connID. */
async function openim(kind: keyof typeof OPENIM_COMMANDS, userId: string, platformID: number, seq: number) {
  const body: Record<string, unknown> = {
    operationID: `op-${userId}-${kind}-${seq}`,
    platformID,
    platform: OPENIM_PLATFORMS[platformID],
    userID: userId,
    seq,
    ...(kind === "online" ? { isAppBackground: false } : {}),
    ...(kind === "kickoff" ? {} : { connID: "" }),
  };
  const res = await postOpenIm(relay.url, TENANT, OPENIM_COMMANDS[kind], body);
  expect(res).toEqual({ status: 200, body: { actionCode: 0, errCode: 0, errMsg: "", errDlt: "", nextCode: 0 } });
}

// Tencent scenarios replay at a fixed past time: Tencent platforms never expire.
const T0 = Date.now() - 10 * 60_000;

describe("presence, replayed against a running gateway", () => {
  it("keeps a Tencent user online through a reconnect that swallowed its Disconnect (Login, Login)", async () => {
    const user = "reconnect";
    await tencent(user, "IOS", "Login", "Register", T0 + 1_000);
    await tencent(user, "IOS", "Login", "Register", T0 + 2_000);

    const got = await settled(user, 2, 1);
    expect(summary(got.all)).toEqual([
      { type: "user.online", reason: "login", platform: "ios", changed: true, stale: false, online: true },
      { type: "user.online", reason: "login", platform: "ios", changed: false, stale: false, online: true },
    ]);
    // A second login of an online platform keeps the time it came online.
    expect(got.all[1]!.presence.platforms).toEqual([
      { provider: "tencent", platform: "ios", device: null, since: iso(T0 + 1_000) },
    ]);

    const presence = await presenceOf(user);
    expect(presence).toMatchObject({
      userId: user,
      online: true,
      platforms: [{ provider: "tencent", platform: "ios", device: null, since: iso(T0 + 1_000) }],
    });
  });

  it("takes the kicked Android offline when a Windows Login names it in KickedDevice", async () => {
    const user = "kick-new";
    await tencent(user, "Android", "Login", "Register", T0 + 1_000);
    await tencent(user, "Windows", "Login", "Register", T0 + 2_000, ["Android"]);

    const got = await settled(user, 2, 1);
    expect(summary(got.all)).toEqual([
      { type: "user.online", reason: "login", platform: "android", changed: true, stale: false, online: true },
      { type: "user.online", reason: "login", platform: "windows", changed: false, stale: false, online: true },
    ]);
    expect(onlineOn(got.all[0]!.presence)).toEqual(["tencent/android"]);
    expect(onlineOn(got.all[1]!.presence)).toEqual(["tencent/windows"]);

    const presence = await presenceOf(user);
    expect(presence.online).toBe(true);
    expect(onlineOn(presence)).toEqual(["tencent/windows"]);
  });

  it("ends an old-SDK kick (Login and Logout, in either order) with Windows online and Android offline", async () => {
    const logoutFirst = "kick-old-logout-first";
    const loginFirst = "kick-old-login-first";
    for (const user of [logoutFirst, loginFirst]) await tencent(user, "Android", "Login", "Register", T0 + 1_000);

    await tencent(logoutFirst, "Android", "Logout", "Kicked", T0 + 2_000);
    await tencent(logoutFirst, "Windows", "Login", "Register", T0 + 2_001, ["Android"]);

    await tencent(loginFirst, "Windows", "Login", "Register", T0 + 2_001, ["Android"]);
    await tencent(loginFirst, "Android", "Logout", "Kicked", T0 + 2_000);

    const a = await settled(logoutFirst, 3, 3);
    expect(summary(a.all)).toEqual([
      { type: "user.online", reason: "login", platform: "android", changed: true, stale: false, online: true },
      { type: "user.offline", reason: "kicked", platform: "android", changed: true, stale: false, online: false },
      { type: "user.online", reason: "login", platform: "windows", changed: true, stale: false, online: true },
    ]);

    const b = await settled(loginFirst, 3, 1);
    expect(summary(b.all)).toEqual([
      { type: "user.online", reason: "login", platform: "android", changed: true, stale: false, online: true },
      { type: "user.online", reason: "login", platform: "windows", changed: false, stale: false, online: true },
      // The Logout is older than the kick the Login already applied to Android.
      { type: "user.offline", reason: "kicked", platform: "android", changed: false, stale: true, online: true },
    ]);

    for (const user of [logoutFirst, loginFirst]) {
      const presence = await presenceOf(user);
      expect(presence.online).toBe(true);
      expect(onlineOn(presence)).toEqual(["tencent/windows"]);
    }
  });

  it("keeps a user online when one device disconnects while another stays, and tells flips only of the first login", async () => {
    const user = "two-devices";
    await tencent(user, "IOS", "Login", "Register", T0 + 1_000);
    await tencent(user, "Web", "Login", "Register", T0 + 2_000);
    await tencent(user, "IOS", "Disconnect", "LinkClose", T0 + 3_000);

    const got = await settled(user, 3, 1);
    expect(summary(got.all)).toEqual([
      { type: "user.online", reason: "login", platform: "ios", changed: true, stale: false, online: true },
      { type: "user.online", reason: "login", platform: "web", changed: false, stale: false, online: true },
      { type: "user.offline", reason: "disconnect", platform: "ios", changed: false, stale: false, online: true },
    ]);
    expect(onlineOn(got.all[1]!.presence)).toEqual(["tencent/ios", "tencent/web"]);
    expect(got.flips.map((e) => [e.type, e.platform])).toEqual([["user.online", "ios"]]);

    const presence = await presenceOf(user);
    expect(presence.online).toBe(true);
    expect(onlineOn(presence)).toEqual(["tencent/web"]);
  });

  it("delivers a late, older Login as stale and leaves the user offline", async () => {
    const user = "late-login";
    await tencent(user, "IOS", "Logout", "Unregister", T0 + 2_000);
    await tencent(user, "IOS", "Login", "Register", T0 + 1_000);

    const got = await settled(user, 2, 0);
    expect(summary(got.all)).toEqual([
      { type: "user.offline", reason: "logout", platform: "ios", changed: false, stale: false, online: false },
      { type: "user.online", reason: "login", platform: "ios", changed: false, stale: true, online: false },
    ]);
    expect(got.all[1]!.occurredAt).toBe(iso(T0 + 1_000));
    expect(await presenceOf(user)).toMatchObject({ online: false, platforms: [] });
  });

  it("orders OpenIM callbacks by seq: an online older than an offline already taken is stale", async () => {
    const user = "openim-out-of-order";
    const seq = Date.now() - 5_000;
    await openim("offline", user, 5, seq + 2_000);
    await openim("online", user, 5, seq);

    const got = await settled(user, 2, 0);
    expect(summary(got.all)).toEqual([
      { type: "user.offline", reason: "disconnect", platform: "web", changed: false, stale: false, online: false },
      { type: "user.online", reason: "login", platform: "web", changed: false, stale: true, online: false },
    ]);
    expect(got.all.every((e) => e.provider === "openim")).toBe(true);
    expect(await presenceOf(user)).toMatchObject({ online: false, platforms: [] });
  });

  it("counts OpenIM renewals of an online platform instead of delivering them", async () => {
    const user = "openim-renewals";
    const labels = { tenant: TENANT };
    const before = await metricValue(relay.url, "imrelay_renewals_suppressed_total", labels);
    const seq = Date.now();
    await openim("online", user, 5, seq);
    await openim("online", user, 5, seq + 10);
    await openim("online", user, 5, seq + 20);

    await waitFor(() => eventsOf(all, user).length >= 1, 10_000, "the first online");
    await sleep(300);
    // The platform expires 2 s after the last renewal; that offline is the expiry test's subject, not this one's.
    const got = eventsOf(all, user).filter((e) => e.reason !== "expired");
    expect(summary(got)).toEqual([
      { type: "user.online", reason: "login", platform: "web", changed: true, stale: false, online: true },
    ]);
    expect(await metricValue(relay.url, "imrelay_renewals_suppressed_total", labels)).toBe(before + 2);
  });

  it("takes an OpenIM platform offline by itself (reason expired) when nothing renews it in time", async () => {
    const user = "openim-expiry";
    const seq = Date.now();
    await openim("online", user, 2, seq);
    expect((await presenceOf(user)).online).toBe(true);

    const expired = await waitFor(
      () => eventsOf(all, user).find((e) => e.reason === "expired"),
      EXPIRY_MS + 3_000,
      "the expiry",
    );
    const seenAt = Date.now();
    expect(seenAt).toBeGreaterThanOrEqual(seq + EXPIRY_MS);
    expect(expired).toMatchObject({
      type: "user.offline",
      provider: "openim",
      status: "offline",
      reason: "expired",
      platform: "android",
      changed: true,
      stale: false,
      occurredAt: iso(seq + EXPIRY_MS),
      presence: { online: false, platforms: [] },
    });

    // Four more sweeps must not expire it again.
    const got = await settled(user, 2, 2, 800);
    expect(summary(got.all)).toEqual([
      { type: "user.online", reason: "login", platform: "android", changed: true, stale: false, online: true },
      { type: "user.offline", reason: "expired", platform: "android", changed: true, stale: false, online: false },
    ]);
    expect(await presenceOf(user)).toMatchObject({ online: false, platforms: [] });
  });

  it("postpones an OpenIM expiry when a renewal comes before the deadline", async () => {
    const user = "openim-renewed";
    const start = Date.now();
    await openim("online", user, 2, start);
    await sleep(start + 1_200 - Date.now());
    const renewedAt = Date.now();
    await openim("online", user, 2, renewedAt);

    await sleep(start + 2_500 - Date.now());
    const midway = await presenceOf(user);
    expect(midway.online).toBe(true);
    expect(onlineOn(midway)).toEqual(["openim/android"]);
    expect(eventsOf(all, user).some((e) => e.reason === "expired")).toBe(false);

    const expired = await waitFor(
      () => eventsOf(all, user).find((e) => e.reason === "expired"),
      EXPIRY_MS + 3_000,
      "the postponed expiry",
    );
    expect(Date.now()).toBeGreaterThanOrEqual(renewedAt + EXPIRY_MS);
    expect(expired.occurredAt).toBe(iso(renewedAt + EXPIRY_MS));
    const got = await settled(user, 2, 2, 800);
    expect(summary(got.all).map((e) => e.reason)).toEqual(["login", "expired"]);
    expect(await presenceOf(user)).toMatchObject({ online: false, platforms: [] });
  });

  it("keeps one presence across vendors: online until the last platform of either goes", async () => {
    const user = "cross-vendor";
    const t = Date.now();
    await tencent(user, "IOS", "Login", "Register", t);
    await openim("online", user, 5, t + 1);

    const both = await presenceOf(user);
    expect(both.online).toBe(true);
    expect(both.platforms).toEqual([
      { provider: "tencent", platform: "ios", device: null, since: iso(t) },
      { provider: "openim", platform: "web", device: null, since: iso(t + 1) },
    ]);

    await tencent(user, "IOS", "Logout", "Unregister", t + 2);
    const webOnly = await presenceOf(user);
    expect(webOnly.online).toBe(true);
    expect(onlineOn(webOnly)).toEqual(["openim/web"]);

    await openim("offline", user, 5, t + 3);

    const got = await settled(user, 4, 2);
    expect(got.all.map((e) => [e.provider, e.type, e.reason, e.platform, e.changed, e.stale])).toEqual([
      ["tencent", "user.online", "login", "ios", true, false],
      ["openim", "user.online", "login", "web", false, false],
      ["tencent", "user.offline", "logout", "ios", false, false],
      ["openim", "user.offline", "disconnect", "web", true, false],
    ]);
    expect(got.all.map((e) => onlineOn(e.presence))).toEqual([
      ["tencent/ios"],
      ["tencent/ios", "openim/web"],
      ["openim/web"],
      [],
    ]);
    expect(await presenceOf(user)).toMatchObject({ online: false, platforms: [] });
  });

  it("answers a batch presence query with each user's presence in one call", async () => {
    const userIds = ["reconnect", "kick-new", "two-devices", "late-login", "openim-out-of-order", "never-seen"];
    const res = await adminRequest(relay.url, ADMIN_TOKEN, `/v1/tenants/${TENANT}/presence/query`, { userIds });
    expect(res.status).toBe(200);
    const byId = res.body.users as Record<string, { userId: string; online: boolean; platforms: PresencePlatform[] }>;
    expect(Object.keys(byId)).toEqual(userIds);
    const users = Object.values(byId);
    expect(users.map((u) => [u.userId, u.online, onlineOn(u)])).toEqual([
      ["reconnect", true, ["tencent/ios"]],
      ["kick-new", true, ["tencent/windows"]],
      ["two-devices", true, ["tencent/web"]],
      ["late-login", false, []],
      ["openim-out-of-order", false, []],
      ["never-seen", false, []],
    ]);
    // The batch answers what the single-user route answers.
    for (const user of users.slice(0, 5)) expect(user).toEqual(await presenceOf(user.userId));

    const noToken = await fetch(`${relay.url}/v1/tenants/${TENANT}/presence/query`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ userIds }),
    });
    expect(noToken.status).toBe(401);
  });

  it("takes a user offline with reason kicked on an OpenIM kick-off callback", async () => {
    const user = "openim-kicked";
    const seq = Date.now();
    await openim("online", user, 2, seq);
    await openim("kickoff", user, 2, seq + 1);

    const got = await settled(user, 2, 2);
    expect(summary(got.all)).toEqual([
      { type: "user.online", reason: "login", platform: "android", changed: true, stale: false, online: true },
      { type: "user.offline", reason: "kicked", platform: "android", changed: true, stale: false, online: false },
    ]);
    expect(got.all[1]!.provider).toBe("openim");
    expect(await presenceOf(user)).toMatchObject({ online: false, platforms: [] });
  });
});
