import { describe, expect, it } from "vitest";
import { agoraSecurity, signAgoraBody } from "../src/index.js";
import { APP_KEY, accept, fixtureBody, OPTIONS, SECRET, SIGNED, thrown } from "./helpers.js";

describe("signAgoraBody", () => {
  it("builds a login that passes verification and maps to user.online", () => {
    const body = signAgoraBody({ secret: SECRET, appKey: APP_KEY, userId: "alice", timestamp: 1642648914742 });
    const [event] = accept(body, SIGNED).events;
    expect(event).toMatchObject({
      type: "user.online",
      status: "online",
      reason: "login",
      userId: "alice",
      appId: APP_KEY,
      platform: "ios",
      clientIp: "127.0.0.1",
      connectionId: "ios_6d580737-db3a-d2b5-da18-b6045ffd195b",
      occurredAt: "2022-01-20T03:21:54.742Z",
    });
  });

  it("has the fields of the vendor's sample, in its order", () => {
    const keys = Object.keys(JSON.parse(signAgoraBody({ secret: SECRET, appKey: APP_KEY, userId: "alice" })));
    const sample = Object.keys(fixtureBody("logout-ios.txt")).filter((key) => key !== "host" && key !== "version");
    expect(keys).toEqual(sample);
  });

  it("signs callId and timestamp as the vendor does", () => {
    const body = JSON.parse(
      signAgoraBody({
        secret: SECRET,
        appKey: APP_KEY,
        userId: "alice",
        callId: "61000000#acme_25b54a81-1376-4669-bb3d-178339a8f11b",
        timestamp: 1642648914742,
      }),
    );
    expect(body.security).toBe("50ec10b4c20074a68eabbd87d64b8983");
  });

  it("signs a string timestamp as it is", () => {
    const body = JSON.parse(
      signAgoraBody({ secret: SECRET, appKey: APP_KEY, userId: "a", timestamp: "01642648914742" }),
    );
    expect(body.security).toBe(agoraSecurity(body.callId, SECRET, "01642648914742"));
    expect(accept(JSON.stringify(body), SIGNED).events).toHaveLength(1);
  });

  it("gives every body a fresh callId under the appkey", () => {
    const a = JSON.parse(signAgoraBody({ appKey: APP_KEY, userId: "alice" }));
    const b = JSON.parse(signAgoraBody({ appKey: APP_KEY, userId: "alice" }));
    expect(a.callId).toMatch(/^61000000#acme_[0-9a-f-]{36}$/);
    expect(a.callId).not.toBe(b.callId);
  });

  it("adds no security without a secret, so a handler with one refuses it", () => {
    const body = signAgoraBody({ appKey: APP_KEY, userId: "alice" });
    expect(JSON.parse(body)).not.toHaveProperty("security");
    expect(accept(body, OPTIONS).events).toHaveLength(1);
    expect(thrown(() => accept(body, SIGNED))).toMatchObject({ code: "SIGNATURE_MISSING" });
  });

  it("builds logout and replaced with status offline", () => {
    const logout = signAgoraBody({ secret: SECRET, appKey: APP_KEY, userId: "alice", reason: "logout" });
    const replaced = signAgoraBody({ secret: SECRET, appKey: APP_KEY, userId: "alice", reason: "replaced" });
    expect(JSON.parse(logout).status).toBe("offline");
    expect(accept(logout, SIGNED).events[0]).toMatchObject({ status: "offline", reason: "logout" });
    expect(accept(replaced, SIGNED).events[0]).toMatchObject({ status: "offline", reason: "kicked" });
  });

  it("pairs a login and a logout on the same default device", () => {
    const login = accept(signAgoraBody({ appKey: APP_KEY, userId: "alice" })).events[0];
    const logout = accept(signAgoraBody({ appKey: APP_KEY, userId: "alice", reason: "logout" })).events[0];
    expect(logout?.connectionId).toBe(login?.connectionId);
  });

  it("takes os, deviceId, ip, status and a whole user", () => {
    const body = signAgoraBody({
      secret: SECRET,
      appKey: APP_KEY,
      userId: "ignored",
      os: "webim",
      deviceId: "1778336119529",
      ip: "[::1]:5000",
      reason: "migrated",
      status: "online",
    });
    expect(accept(body, SIGNED).events[0]).toMatchObject({
      userId: "ignored",
      platform: "web",
      connectionId: "webim_1778336119529",
      clientIp: "::1",
      status: "online",
      reason: "other",
    });
    const whole = signAgoraBody({ appKey: APP_KEY, userId: "x", user: "bob_smith" });
    expect(accept(whole).events[0]).toMatchObject({ userId: "bob_smith", connectionId: null });
  });
});
