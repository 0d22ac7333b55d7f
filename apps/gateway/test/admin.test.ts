import { createIngest } from "@imrelay/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { presenceModelOf } from "../src/callbacks/vendor.js";
import { adapterEvent, dropPrefix, newPrefix, startTestGateway, type TestGateway, testConfig } from "./helpers.js";

const prefix = newPrefix();
const TOKEN = "admin-token-0123456789abcdef";
const T0 = Date.UTC(2025, 0, 1);
let gw: TestGateway;
let off: TestGateway;
const auth = { authorization: `Bearer ${TOKEN}` };

beforeAll(async () => {
  const tenants = { acme: { tencent: { sdkAppId: "1400000000" }, openim: { appId: "acme-openim" } } };
  gw = await startTestGateway(testConfig({ tenants, admin: { token: TOKEN } }, prefix), {
    mountAdmin: (app, { requireAdmin }) => {
      app.get("/v1/deliveries", requireAdmin, (_req, res) => {
        res.json({ deliveries: [] });
      });
    },
  });
  off = await startTestGateway(testConfig({ tenants }, prefix));
  const ingest = createIngest({ redis: gw.redis, keys: gw.keys, presenceModel: presenceModelOf(), expiryMs: 60_000 });
  await ingest(
    adapterEvent({
      tenant: "acme",
      userId: "alice",
      provider: "tencent",
      status: "online",
      platform: "ios",
      at: T0 + 10,
    }),
  );
  await ingest(
    adapterEvent({ tenant: "acme", userId: "alice", provider: "openim", status: "online", platform: "web", at: T0 }),
  );
  await ingest(
    adapterEvent({ tenant: "acme", userId: "bob", provider: "tencent", status: "offline", platform: "ios", at: T0 }),
  );
});

afterAll(async () => {
  await dropPrefix(gw.redis, prefix);
  await gw.close();
  await off.close();
});

describe("the admin presence API", () => {
  it("shows a user's presence across providers, oldest platform first", async () => {
    const res = await fetch(`${gw.url}/v1/tenants/acme/users/alice/presence`, { headers: auth });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      tenant: "acme",
      userId: "alice",
      online: true,
      platforms: [
        { provider: "openim", platform: "web", device: null, since: new Date(T0).toISOString() },
        { provider: "tencent", platform: "ios", device: null, since: new Date(T0 + 10).toISOString() },
      ],
      sequence: 2,
    });
  });

  it("shows a user it never heard of as offline with sequence 0", async () => {
    const res = await fetch(`${gw.url}/v1/tenants/acme/users/nobody/presence`, { headers: auth });
    expect(await res.json()).toEqual({ tenant: "acme", userId: "nobody", online: false, platforms: [], sequence: 0 });
  });

  it("answers a batch query in the order asked", async () => {
    const res = await fetch(`${gw.url}/v1/tenants/acme/presence/query`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ userIds: ["bob", "alice", "nobody"] }),
    });
    expect(res.status).toBe(200);
    const { users } = (await res.json()) as {
      users: Record<string, { userId: string; online: boolean; sequence: number }>;
    };
    expect(Object.keys(users)).toEqual(["bob", "alice", "nobody"]);
    expect(Object.values(users).map((u) => [u.userId, u.online, u.sequence])).toEqual([
      ["bob", false, 1],
      ["alice", true, 2],
      ["nobody", false, 0],
    ]);
  });

  it("refuses a batch of more than 1000 users or a body without userIds", async () => {
    const big = await fetch(`${gw.url}/v1/tenants/acme/presence/query`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ userIds: Array.from({ length: 1001 }, (_, i) => `u${i}`) }),
    });
    expect(big.status).toBe(400);
    const bad = await fetch(`${gw.url}/v1/tenants/acme/presence/query`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ users: ["a"] }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: "INVALID_REQUEST" } });
  });

  it("answers 404 for a tenant that does not exist", async () => {
    const res = await fetch(`${gw.url}/v1/tenants/nobody/users/alice/presence`, { headers: auth });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: "UNKNOWN_TENANT" } });
  });

  it("answers 401 without a token or with a wrong one", async () => {
    const none = await fetch(`${gw.url}/v1/tenants/acme/users/alice/presence`);
    const wrong = await fetch(`${gw.url}/v1/tenants/acme/users/alice/presence`, {
      headers: { authorization: `Bearer ${TOKEN}x` },
    });
    for (const res of [none, wrong]) {
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: { code: "UNAUTHORIZED", message: expect.any(String) } });
    }
  });

  it("answers 404 on every admin route when no admin token is configured, even with a token", async () => {
    const get = await fetch(`${off.url}/v1/tenants/acme/users/alice/presence`, { headers: auth });
    const batch = await fetch(`${off.url}/v1/tenants/acme/presence/query`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ userIds: ["alice"] }),
    });
    expect([get.status, batch.status]).toEqual([404, 404]);
  });

  it("guards routes mounted through mountAdmin with the same token", async () => {
    expect((await fetch(`${gw.url}/v1/deliveries`)).status).toBe(401);
    const res = await fetch(`${gw.url}/v1/deliveries`, { headers: auth });
    expect(await res.json()).toEqual({ deliveries: [] });
  });
});

describe("health and metrics", () => {
  it("answers healthz and readyz while Redis is up", async () => {
    const health = await fetch(`${gw.url}/healthz`);
    expect([health.status, await health.json()]).toEqual([200, { status: "ok" }]);
    expect((await fetch(`${gw.url}/readyz`)).status).toBe(200);
  });

  it("serves the gateway's metrics in Prometheus text format", async () => {
    const res = await fetch(`${gw.url}/metrics`);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    const text = await res.text();
    for (const name of [
      "imrelay_callbacks_total",
      "imrelay_callback_ack_seconds",
      "imrelay_unrecognized_callbacks_total",
      "imrelay_renewals_suppressed_total",
      "imrelay_presence_expired_total",
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
  });

  it("answers an unknown route with a JSON 404", async () => {
    const res = await fetch(`${gw.url}/nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: "NOT_FOUND" } });
  });
});
