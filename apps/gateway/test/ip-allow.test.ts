import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ipAllowList } from "../src/http/ip-allow.js";
import { dropPrefix, fixtureJson, newPrefix, post, startTestGateway, type TestGateway, testConfig } from "./helpers.js";

describe("ipAllowList", () => {
  it("matches single addresses and CIDR ranges of both families", () => {
    const allowed = ipAllowList(["10.0.0.0/8", "203.0.113.7", "2001:db8::/32"])!;
    expect(allowed("10.200.1.1")).toBe(true);
    expect(allowed("203.0.113.7")).toBe(true);
    expect(allowed("203.0.113.8")).toBe(false);
    expect(allowed("2001:db8::1")).toBe(true);
    expect(allowed("2001:db9::1")).toBe(false);
  });

  it("treats IPv4-mapped IPv6 addresses as IPv4, in the request and in the list", () => {
    expect(ipAllowList(["10.0.0.0/8"])!("::ffff:10.1.2.3")).toBe(true);
    expect(ipAllowList(["::ffff:127.0.0.1"])!("127.0.0.1")).toBe(true);
    expect(ipAllowList(["::ffff:10.0.0.0/104"])!("10.9.9.9")).toBe(true);
  });

  it("refuses a missing or invalid address, and allows everyone without a list", () => {
    expect(ipAllowList(["10.0.0.0/8"])!(undefined)).toBe(false);
    expect(ipAllowList(["10.0.0.0/8"])!("not-an-ip")).toBe(false);
    expect(ipAllowList(undefined)).toBeUndefined();
  });
});

const prefix = newPrefix();
const json = { "content-type": "application/json" };
const online = (userID: string) => JSON.stringify({ ...fixtureJson("openim-online.json"), userID });
let direct: TestGateway;
let proxied: TestGateway;

beforeAll(async () => {
  const tenants = {
    closed: { openim: { appId: "c", allowIps: ["10.0.0.0/8"] } },
    local: { openim: { appId: "l", allowIps: ["127.0.0.1"] } },
  };
  direct = await startTestGateway(testConfig({ tenants }, prefix));
  proxied = await startTestGateway(testConfig({ tenants, gateway: { trustProxy: "loopback" } }, prefix));
});

afterAll(async () => {
  await dropPrefix(direct.redis, prefix);
  await direct.close();
  await proxied.close();
});

describe("allowIps on a callback route", () => {
  const path = "/openim/callbackAfterUserOnlineCommand";

  it("answers 403 in the OpenIM envelope when the caller is not in the list", async () => {
    const res = await post(`${direct.url}/v1/tenants/closed${path}`, online("ip1"), json);
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ actionCode: 1, errCode: 403, errDlt: "IP_NOT_ALLOWED" });
  });

  it("takes the callback when the caller is in the list", async () => {
    expect((await post(`${direct.url}/v1/tenants/local${path}`, online("ip2"), json)).status).toBe(200);
  });

  it("ignores X-Forwarded-For unless trustProxy is set, and honours it when it is", async () => {
    const forwarded = { ...json, "x-forwarded-for": "10.1.2.3" };
    expect((await post(`${direct.url}/v1/tenants/closed${path}`, online("ip3"), forwarded)).status).toBe(403);
    expect((await post(`${proxied.url}/v1/tenants/closed${path}`, online("ip4"), forwarded)).status).toBe(200);
  });
});
