import { neteaseRequest } from "@imrelay/netease-adapter";
import { createIngest, heldMember, readPresence } from "@imrelay/store";
import pino from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { presenceModelOf } from "../src/callbacks/vendor.js";
import { gatewayMetrics } from "../src/metrics.js";
import { createGraceSweeper } from "../src/presence/grace.js";
import { createIngestRedis, whenReady } from "../src/redis.js";
import {
  adapterEvent,
  dropPrefix,
  fakeClock,
  fixtureJson,
  metricValue,
  newPrefix,
  post,
  startTestGateway,
  streamEvents,
  type TestGateway,
  testConfig,
} from "./helpers.js";

/*
 * presence.offlineGrace through real callbacks on a real gateway and Redis,
 * with the clock in the test's hands: the event that takes a user's last
 * platform offline waits in Redis, and goes out with changed: false if the
 * user is back in time, else with changed: true.
 */

const prefix = newPrefix();
const APP = "1400000000";
const NETEASE_KEY = "0123456789abcdef0123456789abcdef";
const GRACE = 15_000;
const T = 1_751_440_000_000;
const clock = fakeClock(T);
const config = testConfig(
  {
    tenants: {
      acme: {
        tencent: { sdkAppId: APP },
        openim: { appId: "acme-openim" },
        netease: { appKey: NETEASE_KEY },
        endpoints: [
          {
            id: "raw",
            url: "https://acme.example.com/hooks",
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            includeRaw: true,
          },
        ],
      },
    },
    presence: { offlineGrace: "15s" },
  },
  prefix,
);
let gw: TestGateway;
const redisB = createIngestRedis(config.redis);

function sweeper(redis = gw.redis, registry = gw.registry, sweepClock: () => number = clock, sweepInterval = 5_000) {
  return createGraceSweeper({
    redis,
    keys: gw.keys,
    config: { presence: { ...config.presence, sweepInterval } },
    clock: sweepClock,
    logger: pino({ level: "silent" }),
    metrics: gatewayMetrics(registry),
  });
}

const OK = { ActionStatus: "OK", ErrorCode: 0, ErrorInfo: "" };

/** A Tencent State.StateChange callback at `at` (EventTime), with the clock set to `at` too. */
async function tencent(userId: string, action: "Login" | "Logout", at: number, platform = "IOS") {
  clock.set(at);
  const query = new URLSearchParams({
    SdkAppid: APP,
    CallbackCommand: "State.StateChange",
    contenttype: "json",
    ClientIP: "127.0.0.1",
    OptPlatform: platform,
  });
  const body = JSON.stringify({
    CallbackCommand: "State.StateChange",
    EventTime: at,
    Info: { Action: action, To_Account: userId, Reason: action === "Login" ? "Register" : "Unregister" },
  });
  const res = await post(`${gw.url}/v1/tenants/acme/tencent?${query}`, body);
  expect(res).toMatchObject({ status: 200, body: OK });
}

async function openim(userId: string, kind: "online" | "offline", at: number) {
  clock.set(at);
  const body = JSON.stringify({ ...fixtureJson(`openim-${kind}.json`), userID: userId, seq: at });
  const command = kind === "online" ? "callbackAfterUserOnlineCommand" : "callbackAfterUserOfflineCommand";
  const res = await post(`${gw.url}/v1/tenants/acme/openim/${command}`, body);
  expect(res.status).toBe(200);
}

async function netease(userId: string, at: number) {
  clock.set(at);
  const req = neteaseRequest({ accid: userId, clientType: "IOS", deviceId: "phone-1", timestamp: at, now: at });
  const res = await fetch(`${gw.url}/v1/tenants/acme/netease`, {
    method: "POST",
    headers: req.headers,
    body: req.body,
  });
  expect(res.status).toBe(200);
}

const events = async (userId: string) => (await streamEvents(gw.redis, gw.keys)).filter((e) => e.userId === userId);
const summary = async (userId: string) =>
  (await events(userId)).map((e) => ({
    type: e.type,
    provider: e.provider,
    sequence: e.sequence,
    changed: e.changed,
    online: e.presence.online,
  }));
const heldScore = async (userId: string) =>
  gw.redis.zscore(gw.keys.held(gw.keys.partitionOf("acme", userId)), heldMember({ tenant: "acme", userId }));
const holds = (outcome: string) => metricValue(gw.registry, "imrelay_offline_holds_total", { tenant: "acme", outcome });

beforeAll(async () => {
  gw = await startTestGateway(config, { clock });
  expect(await whenReady(redisB, 5000)).toBe(true);
});

afterAll(async () => {
  await dropPrefix(gw.redis, prefix);
  await gw.close();
  redisB.disconnect();
});

describe("offline grace", () => {
  it("holds the offline that takes the last platform offline, and lets both go with changed: false when the user is back in time", async () => {
    const heldBefore = await holds("held");
    const cancelledBefore = await holds("cancelled");
    await tencent("flap", "Login", T);
    await tencent("flap", "Logout", T + 1_000);
    // Held: in Redis, not on the stream; presence itself says offline at once.
    expect(await summary("flap")).toEqual([
      { type: "user.online", provider: "tencent", sequence: 1, changed: true, online: true },
    ]);
    expect(Number(await heldScore("flap"))).toBe(T + 1_000 + GRACE);
    expect((await readPresence(gw, "acme", "flap")).online).toBe(false);
    expect(await holds("held")).toBe(heldBefore + 1);

    await tencent("flap", "Login", T + 1_000 + GRACE - 1);
    expect(await summary("flap")).toEqual([
      { type: "user.online", provider: "tencent", sequence: 1, changed: true, online: true },
      { type: "user.offline", provider: "tencent", sequence: 2, changed: false, online: false },
      { type: "user.online", provider: "tencent", sequence: 3, changed: false, online: true },
    ]);
    expect(await heldScore("flap")).toBeNull();
    expect(await gw.redis.hget(gw.keys.presence("acme", "flap"), "held")).toBeNull();
    expect(await holds("cancelled")).toBe(cancelledBefore + 1);
    const line = gw.log.json().find((l) => l.userId === "flap" && l.hold === "cancelled");
    expect(line).toMatchObject({ outcome: "queued", hold: "cancelled" });

    clock.set(T + 60_000);
    expect(await sweeper().sweepOnce()).toBe(0);
    expect(await events("flap")).toHaveLength(3);
  });

  it("delivers the held offline with changed: true once the grace is over, exactly once however many sweep", async () => {
    const releasedBefore = await holds("released");
    await tencent("gone", "Login", T);
    await tencent("gone", "Logout", T + 1_000);
    clock.set(T + 1_000 + GRACE - 1);
    expect(await sweeper().sweepOnce()).toBe(0);
    expect(await events("gone")).toHaveLength(1);

    clock.set(T + 1_000 + GRACE);
    const registryB = new Registry();
    const [a, b] = await Promise.all([sweeper().sweepOnce(), sweeper(redisB, registryB).sweepOnce()]);
    expect(a + b).toBe(1);
    const [, offline] = await events("gone");
    expect(offline).toMatchObject({
      type: "user.offline",
      reason: "logout",
      occurredAt: new Date(T + 1_000).toISOString(),
      sequence: 2,
      changed: true,
      stale: false,
      presence: { online: false, platforms: [] },
    });
    expect(offline?._raw).toMatchObject({ body: { Info: { To_Account: "gone", Action: "Logout" } } });
    expect(await heldScore("gone")).toBeNull();
    const released =
      (await holds("released")) +
      (await metricValue(registryB, "imrelay_offline_holds_total", { tenant: "acme", outcome: "released" }));
    expect(released).toBe(releasedBefore + 1);
    expect(await sweeper().sweepOnce()).toBe(0);

    // After the release the user's next login is plain news again.
    await tencent("gone", "Login", T + 30_000);
    expect((await summary("gone")).map((e) => e.changed)).toEqual([true, true, true]);
  });

  it("lets a return after the grace release the held offline with changed: true, when no sweeper got to it yet", async () => {
    const releasedBefore = await holds("released");
    await tencent("late", "Login", T);
    await tencent("late", "Logout", T + 1_000);
    await tencent("late", "Login", T + 1_000 + GRACE);
    expect(await summary("late")).toEqual([
      { type: "user.online", provider: "tencent", sequence: 1, changed: true, online: true },
      { type: "user.offline", provider: "tencent", sequence: 2, changed: true, online: false },
      { type: "user.online", provider: "tencent", sequence: 3, changed: true, online: true },
    ]);
    expect(await heldScore("late")).toBeNull();
    expect(await holds("released")).toBe(releasedBefore + 1);
  });

  it("counts a return through another vendor: a Tencent offline held, the user back via OpenIM or NetEase", async () => {
    await tencent("cross-openim", "Login", T);
    await tencent("cross-openim", "Logout", T + 1_000);
    await openim("cross-openim", "online", T + 5_000);
    expect(await summary("cross-openim")).toEqual([
      { type: "user.online", provider: "tencent", sequence: 1, changed: true, online: true },
      { type: "user.offline", provider: "tencent", sequence: 2, changed: false, online: false },
      { type: "user.online", provider: "openim", sequence: 3, changed: false, online: true },
    ]);

    await tencent("cross-netease", "Login", T);
    await tencent("cross-netease", "Logout", T + 1_000);
    await netease("cross-netease", T + 5_000);
    expect(await summary("cross-netease")).toEqual([
      { type: "user.online", provider: "tencent", sequence: 1, changed: true, online: true },
      { type: "user.offline", provider: "tencent", sequence: 2, changed: false, online: false },
      { type: "user.online", provider: "netease", sequence: 3, changed: false, online: true },
    ]);
    expect(await heldScore("cross-netease")).toBeNull();

    // And the other way round: an OpenIM offline held, the return through Tencent.
    await openim("cross-back", "online", T);
    await openim("cross-back", "offline", T + 1_000);
    expect(await events("cross-back")).toHaveLength(1);
    await tencent("cross-back", "Login", T + 2_000);
    expect((await summary("cross-back")).map((e) => [e.provider, e.changed])).toEqual([
      ["openim", true],
      ["openim", false],
      ["tencent", false],
    ]);
  });

  it("holds only the offline of the last platform, and keeps one hold when another offline comes during it", async () => {
    await tencent("two", "Login", T, "IOS");
    await tencent("two", "Login", T + 100, "Android");
    await tencent("two", "Logout", T + 1_000, "Android");
    // iOS is still online: this offline changes nothing and goes out at once.
    expect((await summary("two")).at(-1)).toMatchObject({ type: "user.offline", changed: false, online: true });
    await tencent("two", "Logout", T + 2_000, "IOS");
    expect(await events("two")).toHaveLength(3);
    // An offline of a platform already offline while the hold waits: delivered at once, the hold untouched.
    await tencent("two", "Logout", T + 3_000, "Android");
    expect((await summary("two")).at(-1)).toMatchObject({ type: "user.offline", sequence: 5, changed: false });
    expect(Number(await heldScore("two"))).toBe(T + 2_000 + GRACE);

    await tencent("two", "Login", T + 4_000, "Windows");
    const got = await events("two");
    expect(got.map((e) => [e.platform, e.status, e.sequence, e.changed])).toEqual([
      ["ios", "online", 1, true],
      ["android", "online", 2, false],
      ["android", "offline", 3, false],
      ["android", "offline", 5, false],
      ["ios", "offline", 4, false],
      ["windows", "online", 6, false],
    ]);
    expect(await heldScore("two")).toBeNull();
  });

  it("does not hold a stale offline", async () => {
    await tencent("stale", "Login", T + 5_000);
    await tencent("stale", "Logout", T + 1_000);
    expect((await summary("stale")).map((e) => [e.type, e.changed])).toEqual([
      ["user.online", true],
      ["user.offline", false],
    ]);
    expect((await events("stale"))[1]?.stale).toBe(true);
    expect(await heldScore("stale")).toBeNull();
  });

  it("still cancels and releases holds made before the grace was turned off", async () => {
    const graceOff = createIngest({
      redis: gw.redis,
      keys: gw.keys,
      presenceModel: presenceModelOf(),
      expiryMs: 60_000,
    });
    await tencent("turned-off", "Login", T);
    await tencent("turned-off", "Logout", T + 1_000);
    const back = await graceOff(
      adapterEvent({
        tenant: "acme",
        userId: "turned-off",
        provider: "tencent",
        status: "online",
        platform: "ios",
        at: T + 2_000,
      }),
    );
    expect(back).toMatchObject({ outcome: "queued", hold: "cancelled" });
    expect((await summary("turned-off")).map((e) => e.changed)).toEqual([true, false, false]);

    // With the grace off, the last offline goes out at once with changed: true, and nothing is held.
    const off = await graceOff(
      adapterEvent({
        tenant: "acme",
        userId: "turned-off",
        provider: "tencent",
        status: "offline",
        platform: "ios",
        at: T + 3_000,
      }),
    );
    expect(off.outcome).toBe("queued");
    expect(off.event).toMatchObject({ changed: true, presence: { online: false } });
    expect(await heldScore("turned-off")).toBeNull();
  });

  it("drops a held field it did not write instead of failing the user's events", async () => {
    await tencent("odd", "Login", T);
    await gw.redis.hset(gw.keys.presence("acme", "odd"), "held", "not a hold");
    await tencent("odd", "Logout", T + 1_000, "Android");
    await tencent("odd", "Login", T + 2_000, "Android");
    expect((await summary("odd")).map((e) => e.sequence)).toEqual([1, 2, 3]);
    await gw.redis.hset(gw.keys.presence("acme", "odd"), "held", '{"e":"x"}');
    await gw.redis.zadd(
      gw.keys.held(gw.keys.partitionOf("acme", "odd")),
      T,
      heldMember({ tenant: "acme", userId: "odd" }),
    );
    clock.set(T + 60_000);
    expect(await sweeper().sweepOnce()).toBe(0);
    expect(await heldScore("odd")).toBeNull();
    expect(await gw.redis.hget(gw.keys.presence("acme", "odd"), "held")).toBeNull();
    expect(await events("odd")).toHaveLength(3);
  });

  it("releases on its own: at once for holds already due when it starts, and when a hold it was told of is due", async () => {
    // A hold left by a gateway that stopped: due already when this sweeper starts.
    await tencent("left", "Login", T);
    await tencent("left", "Logout", T + 1_000);
    const real = sweeper(gw.redis, new Registry(), Date.now, 60_000);
    real.start();
    try {
      await expect.poll(() => heldScore("left"), { timeout: 3_000 }).toBeNull();
      expect((await summary("left")).map((e) => e.changed)).toEqual([true, true]);

      // A hold made now, due in 300 ms: the sweeper, told, releases it then, not a sweepInterval (60 s) later.
      const ingest = createIngest({
        redis: gw.redis,
        keys: gw.keys,
        presenceModel: presenceModelOf(),
        expiryMs: 60_000,
        offlineGraceMs: 300,
      });
      const now = Date.now();
      await ingest(
        adapterEvent({
          tenant: "acme",
          userId: "soon",
          provider: "tencent",
          status: "online",
          platform: "ios",
          at: now - 10,
        }),
      );
      const held = await ingest(
        adapterEvent({
          tenant: "acme",
          userId: "soon",
          provider: "tencent",
          status: "offline",
          platform: "ios",
          at: now - 5,
        }),
      );
      expect(held.outcome).toBe("held");
      const receivedAt = Date.parse(held.event!.receivedAt);
      real.wake(receivedAt + 300);
      await expect.poll(() => heldScore("soon"), { timeout: 3_000, interval: 20 }).toBeNull();
      expect(Date.now()).toBeGreaterThanOrEqual(receivedAt + 300);
      expect((await summary("soon")).map((e) => e.changed)).toEqual([true, true]);
    } finally {
      await real.stop();
    }
  });
});
