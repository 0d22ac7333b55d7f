import { createConfigSource, liveConfig } from "@imrelay/config";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  dropPrefix,
  fixtureJson,
  newPrefix,
  post,
  startTestGateway,
  streamEvents,
  type TestGateway,
  testConfig,
} from "./helpers.js";

const TOKEN = "admin-token-0123456789abcdef";
const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const prefix = newPrefix();
const json = { "content-type": "application/json" };
const online = (userID: string) => JSON.stringify({ ...fixtureJson("openim-online.json"), userID });
const path = "/openim/callbackAfterUserOnlineCommand";

const before = testConfig(
  {
    admin: { token: TOKEN },
    tenants: { acme: { openim: { appId: "acme" }, endpoints: [{ id: "e", url: "https://a.example.com/", secret }] } },
  },
  prefix,
);
const after = testConfig(
  {
    admin: { token: TOKEN },
    tenants: {
      acme: {
        openim: { appId: "acme", allowIps: ["10.0.0.0/8"] },
        endpoints: [{ id: "e", url: "https://a.example.com/", secret }],
      },
      beta: {
        openim: { appId: "beta" },
        endpoints: [{ id: "raw", url: "https://b.example.com/", secret, includeRaw: true }],
      },
    },
  },
  prefix,
);

const source = createConfigSource(before);
let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway(liveConfig(source));
});

afterAll(async () => {
  await dropPrefix(gw.redis, prefix);
  await gw.close();
});

describe("a gateway whose config source is set anew (a SIGHUP reload)", () => {
  it("serves the new tenants, source-address lists and includeRaw from the next callback on", async () => {
    expect((await post(`${gw.url}/v1/tenants/beta${path}`, online("b1"), json)).status).toBe(404);
    expect((await post(`${gw.url}/v1/tenants/acme${path}`, online("a1"), json)).status).toBe(200);
    const presence = (tenant: string, user: string) =>
      fetch(`${gw.url}/v1/tenants/${tenant}/users/${user}/presence`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect((await presence("beta", "b1")).status).toBe(404);

    source.set(after);

    const refused = await post(`${gw.url}/v1/tenants/acme${path}`, online("a2"), json);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ errDlt: "IP_NOT_ALLOWED" });
    expect((await post(`${gw.url}/v1/tenants/beta${path}`, online("b2"), json)).status).toBe(200);
    expect((await presence("beta", "b2")).status).toBe(200);

    const events = await streamEvents(gw.redis, gw.keys);
    expect(events.map((event) => [event.tenant, event.userId, event._raw !== undefined])).toEqual([
      ["acme", "a1", false],
      ["beta", "b2", true],
    ]);
  });
});
