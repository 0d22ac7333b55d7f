import { randomUUID } from "node:crypto";
import type { ImrelayConfig } from "@imrelay/config";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { type RunningGateway, startGateway } from "../src/run-gateway.js";
import { freePort, memoryLogger, newPrefix, type PrivateRedis, startPrivateRedis, testConfig } from "./helpers.js";

const ADMIN_TOKEN = `admin-token-${randomUUID()}`;
const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/** Every admin route that reads or writes Redis, with a body where it takes one. */
const ROUTES: Array<[method: "GET" | "POST", path: string, body?: unknown]> = [
  ["GET", "/v1/tenants/acme/users/u1/presence"],
  ["POST", "/v1/tenants/acme/presence/query", { userIds: ["u1", "u2"] }],
  ["GET", "/v1/deliveries?state=failed"],
  ["GET", "/v1/deliveries/evt_x.presence"],
  ["POST", "/v1/deliveries/evt_x.presence/retry"],
  ["POST", "/v1/tenants/acme/endpoints/presence/recover", { since: "2024-01-01T00:00:00Z" }],
  ["GET", "/v1/tenants/acme/endpoints"],
  ["POST", "/v1/tenants/acme/endpoints/presence/disable", { reason: "test" }],
  ["POST", "/v1/tenants/acme/endpoints/presence/enable"],
  ["GET", "/v1/unrecognized"],
  ["GET", "/admin/queues/api/queues"],
];

let redis: PrivateRedis | undefined;
let gateway: RunningGateway | undefined;

afterEach(async () => {
  redis?.resume();
  await gateway?.close();
  await redis?.stop();
  gateway = undefined;
  redis = undefined;
});

function configOn(url: string): ImrelayConfig {
  const config = testConfig(
    {
      admin: { token: ADMIN_TOKEN },
      gateway: { host: "127.0.0.1", port: 0 },
      tenants: {
        acme: {
          tencent: { sdkAppId: "1400000000" },
          endpoints: [{ id: "presence", url: "https://acme.example.com/hooks", secret: SECRET }],
        },
      },
    },
    newPrefix(),
  );
  return { ...config, redis: { ...config.redis, url } };
}

async function call(port: number, [method, path, body]: (typeof ROUTES)[number]) {
  const started = Date.now();
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${ADMIN_TOKEN}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text) as Record<string, unknown>, ms: Date.now() - started };
}

function expectStoreUnavailable(answer: Awaited<ReturnType<typeof call>>, route: string, withinMs: number) {
  expect({ route, status: answer.status }).toEqual({ route, status: 503 });
  expect(answer.json).toEqual({ error: { code: "STORE_UNAVAILABLE", message: expect.any(String) } });
  expect(answer.text).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|at .*\.js/);
  expect({ route, fast: answer.ms < withinMs }).toEqual({ route, fast: true });
}

describe("the admin API while Redis is away", () => {
  it("answers 503 STORE_UNAVAILABLE at once on every route once Redis has stopped, and 200 again once it is back", async () => {
    redis = await startPrivateRedis();
    gateway = await startGateway({
      config: configOn(redis.url),
      logger: memoryLogger().logger,
      registry: new Registry(),
    });
    const port = gateway.port;
    expect((await call(port, ROUTES[0]!)).status).toBe(200);

    await redis.stop();
    for (const route of ROUTES) expectStoreUnavailable(await call(port, route), route[1], 1000);

    redis = await startPrivateRedis(redis.port);
    const deadline = Date.now() + 10_000;
    let status = 0;
    while (Date.now() < deadline && status !== 200) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await call(port, ["GET", "/v1/deliveries?state=failed"])).status;
    }
    expect(status).toBe(200);
    expect((await call(port, ROUTES[0]!)).status).toBe(200);
  });

  it("answers 503 when Redis hangs (takes the connection, answers nothing), after its command timeout", async () => {
    redis = await startPrivateRedis();
    gateway = await startGateway({
      config: configOn(redis.url),
      logger: memoryLogger().logger,
      registry: new Registry(),
    });
    expect((await call(gateway.port, ROUTES[2]!)).status).toBe(200);

    redis.pause();
    // The presence routes run on the ingest connection (1 s command timeout), the delivery ones on the queue's (2 s).
    expectStoreUnavailable(await call(gateway.port, ROUTES[0]!), ROUTES[0]![1], 2000);
    expectStoreUnavailable(await call(gateway.port, ROUTES[2]!), ROUTES[2]![1], 3000);
  });

  it("answers 503 at once when Redis was never there (BullMQ alone would wait for it without end)", async () => {
    gateway = await startGateway({
      config: configOn(`redis://127.0.0.1:${await freePort()}`),
      logger: memoryLogger().logger,
      registry: new Registry(),
    });
    for (const route of ROUTES) expectStoreUnavailable(await call(gateway.port, route), route[1], 1000);
  }, 20_000);
});
