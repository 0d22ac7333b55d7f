import type { ChildProcess } from "node:child_process";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newPrefix, post, startTestGateway, streamEvents, type TestGateway, testConfig } from "./helpers.js";
import { freePort, startRedis, stopRedis } from "./private-redis.js";

// A Redis of the test's own: this file makes it slow and fills its memory.
let server: ChildProcess;
let admin: Redis;
let gw: TestGateway;

beforeAll(async () => {
  const port = await freePort();
  server = await startRedis(port, ["--enable-debug-command", "yes"]);
  admin = new Redis(`redis://127.0.0.1:${port}`);
  const config = testConfig({ tenants: { acme: { tencent: { sdkAppId: "1400000000" } } } }, newPrefix());
  gw = await startTestGateway({ ...config, redis: { ...config.redis, url: `redis://127.0.0.1:${port}` } });
  // The first callback loads the ingest script, so later ones are one EVALSHA each.
  expect((await login("warm-up", Date.now())).status).toBe(200);
});

afterAll(async () => {
  await gw?.close();
  admin?.disconnect();
  if (server) await stopRedis(server);
});

function login(userId: string, eventTime: number, action = "Login") {
  const body = JSON.stringify({
    CallbackCommand: "State.StateChange",
    EventTime: eventTime,
    Info: { Action: action, To_Account: userId, Reason: "Register" },
  });
  return post(`${gw.url}/v1/tenants/acme/tencent?SdkAppid=1400000000&OptPlatform=IOS`, body);
}

const queuedUsers = async () => (await streamEvents(gw.redis, gw.keys)).map((event) => event.userId);

async function waitFor(check: () => Promise<boolean>, ms: number) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("timed out");
}

describe("a 503 when Redis is slow or refuses", () => {
  it("says the event may have been queued when Redis's reply came too late, and it was", async () => {
    // Redis holds every command for 1.5 s: longer than the ingest connection's 1 s command timeout.
    const asleep = admin.call("DEBUG", "SLEEP", "1.5");
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    // An Action nothing maps is kept for inspection rather than queued: its answer says the same of it.
    const [answer, unrecognized] = await Promise.all([
      login("late", Date.now()),
      login("late", Date.now(), "SomethingNew"),
    ]);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(answer).toMatchObject({
      status: 503,
      body: {
        ActionStatus: "FAIL",
        ErrorCode: 1,
        ErrorInfo: "Redis did not answer in time: the event may or may not have been queued",
      },
    });
    expect(unrecognized).toMatchObject({
      status: 503,
      body: { ErrorInfo: "Redis did not answer in time: the callback may or may not have been kept" },
    });
    await asleep;
    await waitFor(async () => (await queuedUsers()).includes("late"), 3000);
    expect(await gw.redis.llen(gw.keys.unrecognized)).toBe(1);
  });

  it("says the event was not queued when Redis refused the write, and a re-send is then taken", async () => {
    const eventTime = Date.now();
    await admin.config("SET", "maxmemory", "1");
    try {
      expect(await login("refused", eventTime)).toMatchObject({
        status: 503,
        body: { ErrorInfo: "Redis refused the write (OOM): the event was not queued" },
      });
    } finally {
      await admin.config("SET", "maxmemory", "0");
    }
    expect(await queuedUsers()).not.toContain("refused");
    // Nothing of it was kept, not even its event id: the vendor's re-send is queued, not taken for a duplicate.
    expect((await login("refused", eventTime)).status).toBe(200);
    expect((await queuedUsers()).filter((user) => user === "refused")).toHaveLength(1);
  });
});
