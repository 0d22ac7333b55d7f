import { describe, expect, it } from "vitest";
import { neteaseMd5, neteaseRequest } from "../src/index.js";
import { APP_KEY, accept, fixture, NOW, OPTIONS, VECTOR } from "./helpers.js";

const SIGNED = { ...OPTIONS, appSecret: "test-secret" };

describe("neteaseRequest", () => {
  it("signs a given body exactly as the test vector does", () => {
    const req = neteaseRequest({
      body: fixture("login-signed-vector.txt"),
      appSecret: VECTOR.appSecret,
      now: Number(VECTOR.curTime),
    });
    expect(req.body).toBe(fixture("login-signed-vector.txt"));
    expect(req.headers).toEqual({
      "Content-Type": "application/json;charset=utf-8",
      CurTime: VECTOR.curTime,
      MD5: VECTOR.md5,
      CheckSum: VECTOR.checkSum,
    });
  });

  it("builds the console's URL probe", () => {
    const req = neteaseRequest({
      body: "{}",
      appKey: APP_KEY,
      appSecret: VECTOR.appSecret,
      now: Number(VECTOR.curTime),
    });
    expect(req.headers).toMatchObject({ AppKey: APP_KEY, MD5: VECTOR.probeMd5, CheckSum: VECTOR.probeCheckSum });
  });

  it("builds a login copy in the vendor's style that handleCallback accepts", () => {
    const req = neteaseRequest({ accid: "u1", clientType: "IOS", appKey: APP_KEY, appSecret: "test-secret", now: NOW });
    expect(JSON.parse(req.body)).toEqual({
      eventType: "2",
      accid: "u1",
      clientType: "IOS",
      code: "200",
      clientIp: "127.0.0.1",
      deviceId: expect.any(String),
      timestamp: String(NOW),
    });
    expect(req.headers["MD5"]).toBe(neteaseMd5(req.body));
    expect(accept(req, SIGNED).events[0]).toMatchObject({
      type: "user.online",
      userId: "u1",
      platform: "ios",
      clientIp: "127.0.0.1",
      occurredAt: new Date(NOW).toISOString(),
    });
  });

  it("builds a logout copy without device or IP unless given", () => {
    const req = neteaseRequest({ eventType: 3, accid: "u1", logOutReason: 3, timestamp: 1608872658452 });
    expect(JSON.parse(req.body)).toEqual({
      eventType: "3",
      accid: "u1",
      clientType: "AOS",
      code: "200",
      logOutReason: "3",
      timestamp: "1608872658452",
    });
    expect(req.headers).toEqual({ "Content-Type": "application/json;charset=utf-8" });
    expect(accept(req).events[0]).toMatchObject({ type: "user.offline", reason: "kicked", connectionId: null });
  });

  it("encodes an object body as compact JSON and signs those bytes", () => {
    const req = neteaseRequest({ body: { eventType: 1, msg: "hi" }, appSecret: "test-secret", now: NOW });
    expect(req.body).toBe('{"eventType":1,"msg":"hi"}');
    expect(accept(req, SIGNED)).toMatchObject({ unrecognized: true, unrecognizedReason: "eventType 1" });
  });

  it("fails verification when signed with another secret", () => {
    const req = neteaseRequest({ accid: "u1", appSecret: "another-secret" });
    expect(() => accept(req, SIGNED)).toThrow("CheckSum does not match");
  });
});
