import { redisKeys } from "@imrelay/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
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
 * presence.offlineGrace with real processes: two `imrelay gateway`s and one
 * `imrelay worker` on one Redis, the callbacks of one user split between the
 * gateways. `all` gets every event; `flips` is a changesOnly endpoint, which
 * a flapping connection must never reach.
 */

const prefix = newPrefix();
const TENANT = "acme";
const SDK_APP_ID = "1400000000";
const GRACE_MS = 5_000;
const allSecret = newSecret();
const flipsSecret = newSecret();
const redis = redisClient();

let all: Awaited<ReturnType<typeof startSink>>;
let flips: Awaited<ReturnType<typeof startSink>>;
let gatewayA: Relay;
let gatewayB: Relay;
let worker: Relay;
let config: Record<string, unknown>;

beforeAll(async () => {
  all = await startSink(allSecret);
  flips = await startSink(flipsSecret);
  config = {
    redis: { prefix },
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
    presence: { offlineGrace: `${GRACE_MS}ms`, sweepInterval: "1s" },
    delivery: { allowPrivateNetworks: true, retrySchedule: ["200ms", "200ms"], timeoutMs: 2000 },
  };
  [gatewayA, gatewayB, worker] = await Promise.all([
    startRelay({ command: "gateway", config }),
    startRelay({ command: "gateway", config }),
    startRelay({ command: "worker", config }),
  ]);
});

afterAll(async () => {
  await Promise.all([gatewayA?.stop(), gatewayB?.stop(), worker?.stop()]);
  await Promise.all([all?.close(), flips?.close()]);
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

interface Delivered {
  id: string;
  type: string;
  provider: string;
  userId: string;
  status?: string;
  sequence: number;
  changed: boolean;
  presence: { online: boolean };
}

/** A user's deliveries at one sink, deduped on webhook-id (at-least-once), in the order they first arrived. */
function eventsOf(sink: typeof all, userId: string) {
  const byId = new Map<string, Delivered>();
  for (const r of sink.received) {
    const data = r.payload.data as unknown as Delivered;
    if (data.userId !== userId || byId.has(data.id)) continue;
    expect(r.verified).toBe(true);
    byId.set(data.id, data);
  }
  return [...byId.values()];
}

/** The held set of a user's partition (the config's default partition count). */
const heldSetOf = (userId: string) => {
  const keys = redisKeys(prefix);
  return keys.held(keys.partitionOf(TENANT, userId));
};

const line = (e: Delivered) => `${e.provider} ${e.status} seq ${e.sequence} changed ${e.changed}`;

async function tencent(via: Relay, userId: string, action: "Login" | "Logout") {
  const req = tencentRequest({
    sdkAppId: SDK_APP_ID,
    user: userId,
    action,
    reason: action === "Login" ? "Register" : "Unregister",
    eventTime: Date.now(),
  });
  expect((await postTencent(via.url, TENANT, req)).status).toBe(200);
}

async function openimOnline(via: Relay, userId: string) {
  const body = { operationID: `op-${userId}`, platformID: 5, platform: "Web", userID: userId, seq: Date.now() };
  const res = await postOpenIm(via.url, TENANT, "callbackAfterUserOnlineCommand", {
    ...body,
    isAppBackground: false,
    connID: "",
  });
  expect(res.status).toBe(200);
}

/** The sum of a counter over both gateways (each process counts what it did). */
const holds = async (outcome: string) =>
  (await metricValue(gatewayA.url, "imrelay_offline_holds_total", { tenant: TENANT, outcome })) +
  (await metricValue(gatewayB.url, "imrelay_offline_holds_total", { tenant: TENANT, outcome }));

describe("offline grace across gateway processes", () => {
  it("delivers a flap (offline via one gateway, back via the other in time) with changed: false, and nothing to changesOnly", async () => {
    await tencent(gatewayA, "flap", "Login");
    await waitFor(() => eventsOf(flips, "flap").length === 1, 15_000, "the login at flips");
    await tencent(gatewayA, "flap", "Logout");
    expect(await metricValue(gatewayB.url, "imrelay_offline_held")).toBe(1);
    await tencent(gatewayB, "flap", "Login");
    await waitFor(() => eventsOf(all, "flap").length === 3, 15_000, "three events at all");
    await sleep(GRACE_MS + 1_000);
    expect(eventsOf(all, "flap").map(line)).toEqual([
      "tencent online seq 1 changed true",
      "tencent offline seq 2 changed false",
      "tencent online seq 3 changed false",
    ]);
    expect(eventsOf(flips, "flap").map(line)).toEqual(["tencent online seq 1 changed true"]);
    expect(await metricValue(gatewayA.url, "imrelay_offline_held")).toBe(0);
    expect(await holds("cancelled")).toBeGreaterThanOrEqual(1);
  });

  it("delivers a real offline after the grace with changed: true, once, to the changesOnly endpoint too", async () => {
    const releasedBefore = await holds("released");
    await tencent(gatewayA, "leaves", "Login");
    await waitFor(() => eventsOf(flips, "leaves").length === 1, 15_000, "the login at flips");
    const offAt = Date.now();
    await tencent(gatewayB, "leaves", "Logout");
    // Nothing while the grace runs.
    await sleep(Math.max(0, offAt + GRACE_MS - 300 - Date.now()));
    expect(eventsOf(all, "leaves")).toHaveLength(1);
    await waitFor(() => eventsOf(flips, "leaves").length === 2, 15_000, "the offline at flips");
    const offline = eventsOf(flips, "leaves")[1]!;
    expect(line(offline)).toBe("tencent offline seq 2 changed true");
    expect(offline.presence.online).toBe(false);
    // Both gateways sweep; exactly one released it.
    await sleep(1_500);
    expect(eventsOf(all, "leaves").map(line)).toEqual([
      "tencent online seq 1 changed true",
      "tencent offline seq 2 changed true",
    ]);
    expect(await holds("released")).toBe(releasedBefore + 1);
  });

  it("counts a return through another vendor: a Tencent offline held, the user back via OpenIM", async () => {
    await tencent(gatewayA, "crosser", "Login");
    await tencent(gatewayA, "crosser", "Logout");
    await openimOnline(gatewayB, "crosser");
    await waitFor(() => eventsOf(all, "crosser").length === 3, 15_000, "three events at all");
    await sleep(GRACE_MS + 1_000);
    expect(eventsOf(all, "crosser").map(line)).toEqual([
      "tencent online seq 1 changed true",
      "tencent offline seq 2 changed false",
      "openim online seq 3 changed false",
    ]);
    expect(eventsOf(flips, "crosser").map(line)).toEqual(["tencent online seq 1 changed true"]);
  });

  it("keeps a hold through a restart: with no gateway running it waits in Redis, and a new gateway releases it", async () => {
    await tencent(gatewayA, "restart", "Login");
    await waitFor(() => eventsOf(flips, "restart").length === 1, 15_000, "the login at flips");
    await tencent(gatewayA, "restart", "Logout");
    await Promise.all([gatewayA.stop(), gatewayB.stop()]);
    await sleep(GRACE_MS + 1_000);
    expect(eventsOf(all, "restart")).toHaveLength(1);
    expect(await redis.zcard(heldSetOf("restart"))).toBe(1);

    gatewayA = await startRelay({ command: "gateway", config });
    await waitFor(() => eventsOf(flips, "restart").length === 2, 15_000, "the offline at flips");
    expect(eventsOf(flips, "restart").map(line)).toEqual([
      "tencent online seq 1 changed true",
      "tencent offline seq 2 changed true",
    ]);
    expect(await redis.zcard(heldSetOf("restart"))).toBe(0);
    gatewayB = await startRelay({ command: "gateway", config });
  });
});
