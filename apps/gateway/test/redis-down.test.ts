import type { ChildProcess } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { fixtureJson, post, startTestGateway, streamEvents, type TestGateway, testConfig } from "./helpers.js";
import { freePort, startRedis, stopRedis as stop } from "./private-redis.js";

let redis: ChildProcess | undefined;
let gw: TestGateway | undefined;

afterAll(async () => {
  await gw?.close();
  if (redis) await stop(redis);
});

async function waitFor(check: () => Promise<boolean>, ms: number) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("timed out");
}

describe("Redis going away under the gateway", () => {
  it("answers 503 in the vendor's envelope within Tencent's 2 s, fails readyz, and recovers", async () => {
    const port = await freePort();
    redis = await startRedis(port);
    const config = testConfig(
      { tenants: { acme: { openim: { appId: "a" }, tencent: { sdkAppId: "1400000000" } } } },
      "down",
    );
    const started = await startTestGateway({ ...config, redis: { ...config.redis, url: `redis://127.0.0.1:${port}` } });
    gw = started;
    const url = `${started.url}/v1/tenants/acme/openim/callbackAfterUserOnlineCommand`;
    const body = (userID: string) => JSON.stringify({ ...fixtureJson("openim-online.json"), userID });
    const json = { "content-type": "application/json" };
    expect((await post(url, body("before"), json)).status).toBe(200);

    await stop(redis);
    // Once the gateway knows the connection is gone, it knows nothing was sent.
    await waitFor(async () => started.redis.status !== "ready", 2000);
    const downStarted = Date.now();
    const down = await post(url, body("during"), json);
    expect(Date.now() - downStarted).toBeLessThan(2000);
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({
      actionCode: 1,
      errCode: 503,
      errDlt: "STORE_UNAVAILABLE",
      errMsg: "Redis is not connected: the event was not queued",
    });
    expect(JSON.stringify(down.body)).not.toMatch(/ECONNREFUSED|at .*\.js/);
    const tencentStarted = Date.now();
    const tencentBody = JSON.stringify({
      CallbackCommand: "State.StateChange",
      EventTime: Date.now(),
      Info: { Action: "Login", To_Account: "during", Reason: "Register" },
    });
    const tencent = await post(
      `${started.url}/v1/tenants/acme/tencent?SdkAppid=1400000000&OptPlatform=IOS`,
      tencentBody,
      json,
    );
    expect(Date.now() - tencentStarted).toBeLessThan(2000);
    expect(tencent).toMatchObject({
      status: 503,
      body: { ActionStatus: "FAIL", ErrorCode: 1, ErrorInfo: expect.any(String) },
    });
    const readyStarted = Date.now();
    expect((await fetch(`${started.url}/readyz`)).status).toBe(503);
    expect(Date.now() - readyStarted).toBeLessThan(1500);
    expect((await fetch(`${started.url}/healthz`)).status).toBe(200);
    expect(started.log.json().some((l) => l.outcome === "store_unavailable" && l.status === 503)).toBe(true);

    redis = await startRedis(port);
    await waitFor(async () => (await fetch(`${started.url}/readyz`)).status === 200, 10_000);
    await waitFor(async () => (await post(url, body("after"), json)).status === 200, 5000);
    const users = (await streamEvents(started.redis, started.keys)).map((e) => e.userId);
    expect(users).toEqual(["after"]);
  });
});
