import { describe, expect, it } from "vitest";
import { failAnswer, okAnswer, openImRequest } from "../src/index.js";
import { accept, TENANT } from "./helpers.js";

describe("openImRequest", () => {
  it("builds a v3.8 online callback with the command in the path", () => {
    const req = openImRequest({ userId: "u1", seq: 1751440000000, operationId: "p_1234_57" });

    expect(req.path).toBe("/openim/callbackAfterUserOnlineCommand");
    expect(req.url).toBe(req.path);
    expect(req.query).toEqual({});
    expect(req.headers).toEqual({ "Content-Type": "application/json; charset=utf-8", Operationid: "p_1234_57" });
    // Byte for byte what PROTOCOLS.md shows v3.8 sending, trailing newline included.
    expect(req.body).toBe(
      '{"callbackCommand":"callbackAfterUserOnlineCommand","operationID":"p_1234_57","platformID":5,"platform":"Web","userID":"u1","seq":1751440000000,"isAppBackground":false,"connID":""}\n',
    );
  });

  it("leaves isAppBackground off offline and connID off kick-off, as v3.8 does", () => {
    const offline = JSON.parse(openImRequest({ command: "callbackAfterUserOfflineCommand", userId: "u1" }).body);
    const kickOff = JSON.parse(openImRequest({ command: "callbackAfterUserKickOffCommand", userId: "u1" }).body);

    expect(offline).not.toHaveProperty("isAppBackground");
    expect(offline.connID).toBe("");
    expect(kickOff).not.toHaveProperty("connID");
    expect(kickOff).not.toHaveProperty("isAppBackground");
  });

  it("puts the command in the query in the older style", () => {
    const req = openImRequest({ command: "callbackUserOfflineCommand", userId: "u1", style: "query" });

    expect(req.path).toBe("/openim");
    expect(req.query).toEqual({ command: "callbackUserOfflineCommand", contenttype: "json" });
    expect(req.url).toBe("/openim?command=callbackUserOfflineCommand&contenttype=json");
  });

  it("names the platform after its id, and sends an empty name for an unknown id", () => {
    expect(JSON.parse(openImRequest({ userId: "u1", platformId: 4 }).body).platform).toBe("OSX");
    expect(JSON.parse(openImRequest({ userId: "u1", platformId: 99 }).body).platform).toBe("");
  });

  it("adds a Basic Authorization header for credentials", () => {
    const req = openImRequest({ userId: "u1", basicAuth: { username: "openim", password: "pw" } });
    expect(req.headers["Authorization"]).toBe(`Basic ${Buffer.from("openim:pw").toString("base64")}`);
  });

  it("builds requests that handleCallback takes as OpenIM's own", () => {
    const basicAuth = { username: "openim", password: "pw" };
    const req = openImRequest({
      command: "callbackAfterUserKickOffCommand",
      userId: "u7",
      platformId: 11,
      seq: 1751440000000,
      basicAuth,
    });
    const result = accept(req, { ...TENANT, basicAuth });

    expect(result.operationId).toBe(req.headers["Operationid"]);
    expect(result.events[0]).toMatchObject({
      type: "user.offline",
      reason: "kicked",
      userId: "u7",
      platform: "harmonyos",
      connectionId: null,
      occurredAt: "2025-07-02T07:06:40.000Z",
    });
  });
});

describe("answers", () => {
  it("serializes the OK answer exactly as OpenIM expects", () => {
    expect(JSON.stringify(okAnswer())).toBe('{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}');
  });

  it("serializes a FAIL answer with the status, message and code", () => {
    expect(
      JSON.stringify(failAnswer({ status: 429, code: "RATE_LIMITED", message: "tenant acme is over its rate" })),
    ).toBe(
      '{"actionCode":1,"errCode":429,"errMsg":"tenant acme is over its rate","errDlt":"RATE_LIMITED","nextCode":0}',
    );
  });

  it("returns a fresh OK answer each time, so one caller cannot change another's", () => {
    const first = okAnswer();
    first.errMsg = "changed";
    expect(okAnswer().errMsg).toBe("");
  });
});
