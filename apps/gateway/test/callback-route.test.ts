import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { clientAddress, matchCallbackRoute } from "../src/http/callback-route.js";

const req = (method: string, url: string, headers: Record<string, string> = {}, remote = "127.0.0.1") =>
  ({ method, url, headers, socket: { remoteAddress: remote } }) as unknown as IncomingMessage;

describe("matchCallbackRoute", () => {
  it("matches both vendors' callback URLs, with the query parsed as Express 5 does", () => {
    expect(matchCallbackRoute(req("POST", "/v1/tenants/acme/tencent?SdkAppid=1&a=x&a=y"))).toEqual({
      provider: "tencent",
      tenant: "acme",
      path: "/v1/tenants/acme/tencent",
      query: expect.objectContaining({ SdkAppid: "1", a: ["x", "y"] }),
    });
    for (const path of [
      "/v1/tenants/acme/openim",
      "/v1/tenants/acme/openim/",
      "/v1/tenants/acme/openim/callbackAfterUserOnlineCommand",
      "/v1/tenants/acme/openim//callbackAfterUserOnlineCommand",
    ]) {
      expect(matchCallbackRoute(req("POST", path))).toMatchObject({ provider: "openim", tenant: "acme", path });
    }
  });

  it("decodes the tenant and leaves everything else to the Express app", () => {
    expect(matchCallbackRoute(req("POST", "/v1/tenants/a%2Dc/tencent"))?.tenant).toBe("a-c");
    expect(matchCallbackRoute(req("GET", "/v1/tenants/acme/tencent"))).toBeUndefined();
    expect(matchCallbackRoute(req("POST", "/v1/tenants/acme/tencent/extra"))).toBeUndefined();
    expect(matchCallbackRoute(req("POST", "/v1/tenants/%E0%A4%A/tencent"))).toBeUndefined();
    expect(matchCallbackRoute(req("POST", "/v1/tenants/acme/presence/query"))).toBeUndefined();
  });
});

describe("clientAddress", () => {
  const forwarded = { "x-forwarded-for": "203.0.113.9, 10.0.0.2" };

  it("uses the socket's address unless a proxy is trusted", () => {
    expect(clientAddress(false)(req("POST", "/", forwarded))).toBe("127.0.0.1");
  });

  it("walks X-Forwarded-For as far as the trust setting allows", () => {
    expect(clientAddress(true)(req("POST", "/", forwarded))).toBe("203.0.113.9");
    expect(clientAddress(1)(req("POST", "/", forwarded))).toBe("10.0.0.2");
    expect(clientAddress("loopback")(req("POST", "/", forwarded))).toBe("10.0.0.2");
    expect(clientAddress("loopback, 10.0.0.0/8")(req("POST", "/", forwarded))).toBe("203.0.113.9");
  });
});
