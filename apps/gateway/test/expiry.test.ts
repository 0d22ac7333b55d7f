import { createIngest, readPresence, redisKeys } from "@imrelay/store";
import pino from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { presenceModelOf } from "../src/callbacks/vendor.js";
import { gatewayMetrics } from "../src/metrics.js";
import { createExpirySweeper } from "../src/presence/expiry.js";
import { createIngestRedis, whenReady } from "../src/redis.js";
import {
  dropPrefix,
  expiryKey,
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

const prefix = newPrefix();
const SEQ = 1_751_440_000_000;
const EXPIRY = 30 * 60_000;
const clock = fakeClock(SEQ);
const config = testConfig(
  { tenants: { acme: { openim: { appId: "acme-openim" } } }, presence: { openimExpiry: "30m" } },
  prefix,
);
const keys = redisKeys(prefix);
const json = { "content-type": "application/json" };
let gw: TestGateway;
const redisB = createIngestRedis(config.redis);

function sweeper(redis = gw.redis, registry = gw.registry) {
  return createExpirySweeper({
    redis,
    keys,
    config,
    ingest: createIngest({ redis, keys, presenceModel: presenceModelOf(), expiryMs: EXPIRY }),
    clock,
    logger: pino({ level: "silent" }),
    metrics: gatewayMetrics(registry),
  });
}

async function online(userId: string, seq: number, platformID = 5) {
  const body = JSON.stringify({ ...fixtureJson("openim-online.json"), userID: userId, seq, platformID });
  const res = await post(`${gw.url}/v1/tenants/acme/openim/callbackAfterUserOnlineCommand`, body, json);
  expect(res.status).toBe(200);
}

const events = async (userId: string) => (await streamEvents(gw.redis, keys)).filter((e) => e.userId === userId);

beforeAll(async () => {
  gw = await startTestGateway(config, { clock });
  expect(await whenReady(redisB, 5000)).toBe(true);
});

afterAll(async () => {
  await dropPrefix(gw.redis, prefix);
  await gw.close();
  redisB.disconnect();
});

describe("OpenIM presence expiry", () => {
  it("takes a platform offline with reason expired once no online or renewal came in time", async () => {
    await online("quiet", SEQ);
    const sweep = sweeper();
    clock.set(SEQ + EXPIRY - 1);
    expect(await sweep.sweepOnce()).toBe(0);
    clock.set(SEQ + EXPIRY);
    expect(await sweep.sweepOnce()).toBe(1);
    const [, expired] = await events("quiet");
    expect(expired).toMatchObject({
      type: "user.offline",
      status: "offline",
      reason: "expired",
      provider: "openim",
      appId: "acme-openim",
      platform: "web",
      occurredAt: new Date(SEQ + EXPIRY).toISOString(),
      receivedAt: new Date(SEQ + EXPIRY).toISOString(),
      sequence: 2,
      changed: true,
      stale: false,
      presence: { online: false, platforms: [] },
    });
    expect(expired!.id).toMatch(/^evt_/);
    expect((await readPresence({ redis: gw.redis, keys }, "acme", "quiet")).online).toBe(false);
    expect(
      await gw.redis.zscore(expiryKey(keys, "acme", "quiet"), JSON.stringify(["acme", "quiet", "openim", "web"])),
    ).toBeNull();
    expect(await metricValue(gw.registry, "imrelay_presence_expired_total", { tenant: "acme" })).toBe(1);
    expect(await sweep.sweepOnce()).toBe(0);
    expect(await events("quiet")).toHaveLength(2);
  });

  it("expires a user whose id holds quotes, backslashes and other separators, and drops members it cannot read", async () => {
    // Control characters (a newline) are refused at the adapter (userIdProblem), so they never reach the sweeper.
    const odd = 'a:b"\\c,["d"]';
    await online(odd, SEQ);
    await gw.redis.zadd(keys.expiry(0), SEQ, "not a member this gateway wrote");
    clock.set(SEQ + EXPIRY);
    expect(await sweeper().sweepOnce()).toBe(1);
    const [, expired] = await events(odd);
    expect(expired).toMatchObject({ userId: odd, reason: "expired", platform: "web" });
    expect((await readPresence({ redis: gw.redis, keys }, "acme", odd)).online).toBe(false);
    expect(
      await gw.redis.zscore(expiryKey(keys, "acme", odd), JSON.stringify(["acme", odd, "openim", "web"])),
    ).toBeNull();
    expect(await gw.redis.zscore(keys.expiry(0), "not a member this gateway wrote")).toBeNull();
  });

  it("waits for the later deadline when a renewal came in between", async () => {
    clock.set(SEQ);
    await online("renewed", SEQ);
    clock.set(SEQ + 10 * 60_000);
    await online("renewed", SEQ + 10 * 60_000);
    const sweep = sweeper();
    clock.set(SEQ + EXPIRY);
    expect(await sweep.sweepOnce()).toBe(0);
    clock.set(SEQ + 10 * 60_000 + EXPIRY);
    expect(await sweep.sweepOnce()).toBe(1);
    const got = await events("renewed");
    expect(got.map((e) => e.reason)).toEqual(["login", "expired"]);
    expect(got[1]?.occurredAt).toBe(new Date(SEQ + 10 * 60_000 + EXPIRY).toISOString());
  });

  it("emits exactly one event when two sweepers race on the same due member", async () => {
    clock.set(SEQ);
    await online("raced", SEQ, 2);
    clock.set(SEQ + EXPIRY + 5);
    const registryB = new Registry();
    const [a, b] = await Promise.all([sweeper().sweepOnce(), sweeper(redisB, registryB).sweepOnce()]);
    expect(a + b).toBe(1);
    const got = await events("raced");
    expect(got.filter((e) => e.reason === "expired")).toHaveLength(1);
    expect(got.at(-1)?.presence.online).toBe(false);
  });

  it("leaves a platform that came back online after the sweeper read it", async () => {
    clock.set(SEQ);
    await online("back", SEQ, 3);
    // The platform went offline and online again: the member's old deadline no longer matches.
    await gw.redis.hset(keys.presence("acme", "back"), "openim:windows", `1|${SEQ + 1}|${SEQ + 1}`);
    clock.set(SEQ + EXPIRY);
    expect(await sweeper().sweepOnce()).toBe(0);
    expect((await readPresence({ redis: gw.redis, keys }, "acme", "back")).online).toBe(true);
    expect(
      Number(
        await gw.redis.zscore(expiryKey(keys, "acme", "back"), JSON.stringify(["acme", "back", "openim", "windows"])),
      ),
    ).toBe(SEQ + 1 + EXPIRY);
  });

  it("sweeps on its own every sweepInterval once started, until stopped", async () => {
    clock.set(SEQ);
    await online("timed", SEQ, 7);
    clock.set(SEQ + EXPIRY);
    const timed = createExpirySweeper({
      redis: gw.redis,
      keys,
      config: { ...config, presence: { ...config.presence, sweepInterval: 20 } },
      ingest: createIngest({ redis: gw.redis, keys, presenceModel: presenceModelOf(), expiryMs: EXPIRY }),
      clock,
      logger: pino({ level: "silent" }),
      metrics: gatewayMetrics(gw.registry),
    });
    timed.start();
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && (await events("timed")).length < 2) await new Promise((r) => setTimeout(r, 20));
    await timed.stop();
    expect((await events("timed")).map((e) => e.reason)).toEqual(["login", "expired"]);
  });
});
