import { CallbackError, eventId } from "@imrelay/core";
import { describe, expect, it } from "vitest";
import { handleCallback, NeteaseCallbackError } from "../src/index.js";
import { APP_KEY, accept, copy, fixture, NOW, OPTIONS, thrown } from "./helpers.js";

const RECEIVED_AT = new Date(NOW).toISOString();

/** A login copy as the vendor's page prints it (every value a string). */
function login(fields: Record<string, unknown> = {}): string {
  return copy({
    eventType: "2",
    accid: "t3",
    clientType: "AOS",
    code: "200",
    clientIp: "60.205.10.202",
    deviceId: "c25f82d0-5f2e-492f-b5cc-3f4a585c25a2",
    timestamp: "1608877682237",
    ...fields,
  });
}

function logout(fields: Record<string, unknown> = {}): string {
  return copy({ eventType: "3", accid: "tes", clientType: "IOS", code: "200", timestamp: "1608872658452", ...fields });
}

function malformed(body: string): NeteaseCallbackError {
  const err = thrown(() => handleCallback({ body }, OPTIONS));
  expect(err).toBeInstanceOf(NeteaseCallbackError);
  expect(err).toBeInstanceOf(CallbackError);
  const error = err as NeteaseCallbackError;
  expect(error).toMatchObject({ code: "MALFORMED_BODY", status: 400 });
  expect(error.response).toEqual({ code: 400, desc: error.message });
  return error;
}

describe("the vendor page's examples", () => {
  it("maps the login example to user.online/login with every field", () => {
    const out = accept({ body: fixture("login-page-example.txt") });
    expect(out.unrecognized).toBe(false);
    expect(out.response).toEqual({ code: 200 });
    expect(out.events).toEqual([
      {
        id: expect.stringMatching(/^evt_[0-9a-z]{26}$/),
        type: "user.online",
        tenant: "acme",
        provider: "netease",
        appId: APP_KEY,
        userId: "t3",
        status: "online",
        reason: "login",
        platform: "android",
        clientIp: "60.2*.**.202",
        connectionId: "c25f82d0-5f2e-492f-b5cc-3f4a585c25a2",
        background: null,
        kickedPlatforms: [],
        customStatus: null,
        occurredAt: "2020-12-25T06:28:02.237Z",
        receivedAt: RECEIVED_AT,
      },
    ]);
  });

  it.each(["logout-json-example.txt", "logout-curl-example.txt"])(
    "maps the logout example %s to user.offline/logout with no device or IP",
    (name) => {
      const [event] = accept({ body: fixture(name) }).events;
      expect(event).toMatchObject({
        type: "user.offline",
        status: "offline",
        reason: "logout",
        userId: "tes",
        platform: "ios",
        clientIp: null,
        connectionId: null,
        occurredAt: "2020-12-25T05:04:18.452Z",
      });
    },
  );

  it("gives the string-typed and the number-typed logout examples the same id", () => {
    const a = accept({ body: fixture("logout-json-example.txt") }).events[0]!;
    const b = accept({ body: fixture("logout-curl-example.txt") }).events[0]!;
    expect(a.id).toBe(b.id);
  });

  it("maps the signed test vector's body", () => {
    expect(accept({ body: fixture("login-signed-vector.txt") }).events[0]).toMatchObject({
      type: "user.online",
      userId: "t3",
      clientIp: "60.205.10.202",
    });
  });
});

describe("mapping", () => {
  it.each([
    ["login, eventType as a string", login(), "user.online", "online", "login"],
    ["login, eventType as a number", login({ eventType: 2 }), "user.online", "online", "login"],
    ["login with code 200 as a number", login({ code: 200 }), "user.online", "online", "login"],
    ["login without code", login({ code: undefined }), "user.online", "online", "login"],
    ["logout without logOutReason", logout(), "user.offline", "offline", "logout"],
    ["logout, eventType as a number", logout({ eventType: 3 }), "user.offline", "offline", "logout"],
    ["logout with logOutReason 1", logout({ logOutReason: 1 }), "user.offline", "offline", "logout"],
    ['logout with logOutReason "1"', logout({ logOutReason: "1" }), "user.offline", "offline", "logout"],
    ["logout with logOutReason 2", logout({ logOutReason: 2 }), "user.offline", "offline", "disconnect"],
    ['logout with logOutReason "2"', logout({ logOutReason: "2" }), "user.offline", "offline", "disconnect"],
    ["logout with logOutReason 3", logout({ logOutReason: 3 }), "user.offline", "offline", "kicked"],
    ['logout with logOutReason "3"', logout({ logOutReason: "3" }), "user.offline", "offline", "kicked"],
    ["logout with logOutReason 4", logout({ logOutReason: 4 }), "user.offline", "offline", "kicked"],
    ['logout with logOutReason "4"', logout({ logOutReason: "4" }), "user.offline", "offline", "kicked"],
    ["logout with an unknown logOutReason", logout({ logOutReason: 9 }), "user.offline", "offline", "logout"],
    [
      "logout with logOutReason constructor",
      logout({ logOutReason: "constructor" }),
      "user.offline",
      "offline",
      "logout",
    ],
    ["logout with logOutReason __proto__", logout({ logOutReason: "__proto__" }), "user.offline", "offline", "logout"],
    ["logout with logOutReason null", logout({ logOutReason: null }), "user.offline", "offline", "logout"],
    ["logout with a failed code (ignored on logout)", logout({ code: 500 }), "user.offline", "offline", "logout"],
  ])("%s", (_, body, type, status, reason) => {
    const out = accept({ body });
    expect(out.unrecognized).toBe(false);
    expect(out.events).toHaveLength(1);
    expect(out.events[0]).toMatchObject({ type, status, reason });
  });

  it.each([
    ['eventType "1" (a message copy)', copy({ eventType: "1", fromAccount: "a", to: "b" }), "eventType 1"],
    ["eventType 4 (a chat room copy)", copy({ eventType: 4 }), "eventType 4"],
    ["eventType 36 (a synchronous callback)", copy({ eventType: 36, accid: "u1" }), "eventType 36"],
    ['eventType "login"', copy({ eventType: "login", accid: "u1" }), "eventType login"],
    ["no eventType", copy({ accid: "u1", clientType: "AOS" }), "eventType (missing)"],
    ["eventType an object", copy({ eventType: { v: 2 }, accid: "u1" }), "eventType (not a string or number)"],
    ["eventType true", copy({ eventType: true, accid: "u1" }), "eventType (not a string or number)"],
    ["a failed login", login({ code: "302" }), "failed login (code 302)"],
    ["a failed login with a numeric code", login({ code: 414 }), "failed login (code 414)"],
    ["the URL probe {}", "{}", "url probe"],
    ["the URL probe with an empty body", "", "url probe"],
    ["the URL probe with a whitespace body", " \r\n", "url probe"],
  ])("%s is answered OK as unrecognized, with no event", (_, body, reason) => {
    expect(accept({ body })).toEqual({
      events: [],
      unrecognized: true,
      unrecognizedReason: reason,
      response: { code: 200 },
    });
  });

  it("cuts a long vendor value in the unrecognized reason", () => {
    const out = accept({ body: copy({ eventType: "x".repeat(5000) }) });
    expect(out.unrecognizedReason).toBe(`eventType ${"x".repeat(32)}…`);
  });

  it("does not need accid on a copy it does not map", () => {
    expect(accept({ body: copy({ eventType: "1" }) }).unrecognized).toBe(true);
    expect(accept({ body: login({ accid: undefined, code: "302" }) }).unrecognized).toBe(true);
  });
});

describe("event fields", () => {
  it("takes accid as the user id, and a numeric accid as its digits", () => {
    expect(accept({ body: login({ accid: "Alice.1" }) }).events[0]?.userId).toBe("Alice.1");
    expect(accept({ body: login({ accid: 1234567 }) }).events[0]?.userId).toBe("1234567");
  });

  it("takes deviceId as connectionId, a numeric one as its digits, an empty one as null", () => {
    expect(accept({ body: login({ deviceId: 42 }) }).events[0]?.connectionId).toBe("42");
    expect(accept({ body: login({ deviceId: "" }) }).events[0]?.connectionId).toBeNull();
    expect(accept({ body: login({ deviceId: undefined }) }).events[0]?.connectionId).toBeNull();
    expect(accept({ body: logout({ deviceId: "dev-1" }) }).events[0]?.connectionId).toBe("dev-1");
  });

  it("takes clientIp when it is a non-empty string, IPv6 included, else null", () => {
    expect(accept({ body: login({ clientIp: "2001:db8::1" }) }).events[0]?.clientIp).toBe("2001:db8::1");
    expect(accept({ body: login({ clientIp: "" }) }).events[0]?.clientIp).toBeNull();
    expect(accept({ body: login({ clientIp: 17 }) }).events[0]?.clientIp).toBeNull();
    expect(accept({ body: login({ clientIp: undefined }) }).events[0]?.clientIp).toBeNull();
  });

  it("takes timestamp as occurredAt, as a string or a number", () => {
    expect(accept({ body: login({ timestamp: "1608877682237" }) }).events[0]?.occurredAt).toBe(
      "2020-12-25T06:28:02.237Z",
    );
    expect(accept({ body: login({ timestamp: 1608877682237 }) }).events[0]?.occurredAt).toBe(
      "2020-12-25T06:28:02.237Z",
    );
  });

  it.each([
    ["absent", undefined],
    ["empty", ""],
    ["seconds, not ms", 1608877682],
    ["not a number", "yesterday"],
    ["an object", { ms: 1608877682237 }],
  ])("uses receivedAt as occurredAt when timestamp is %s", (_, timestamp) => {
    expect(accept({ body: logout({ timestamp }) }).events[0]).toMatchObject({
      occurredAt: RECEIVED_AT,
      receivedAt: RECEIVED_AT,
    });
  });

  it("uses the clock when no now is given", () => {
    const before = Date.now();
    const [event] = handleCallback({ body: logout() }, { tenant: "acme", appKey: APP_KEY }).events;
    expect(Date.parse(event!.receivedAt)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(event!.receivedAt)).toBeLessThanOrEqual(Date.now());
  });

  it("sets appId to the configured AppKey and ignores fields it does not know", () => {
    const out = accept({ body: login({ customTag: "登录自定义字段", sdkHumanVersion: "9.1.0", extra: { a: [1] } }) });
    expect(out.events[0]).toMatchObject({ appId: APP_KEY, provider: "netease", tenant: "acme" });
  });
});

describe("bad bodies", () => {
  it.each([
    ["not JSON", "<xml/>", "body is not JSON"],
    ["truncated JSON", '{"eventType":"2",', "body is not JSON"],
    ["a JSON array", '[{"eventType":"2","accid":"t3"}]', "body is JSON an array, not an object"],
    ["an empty JSON array", "[]", "body is JSON an array, not an object"],
    ["JSON null", "null", "body is JSON null, not an object"],
    ["a JSON string", '"{}"', "body is JSON a string, not an object"],
    ["a JSON number", "2", "body is JSON a number, not an object"],
  ])("answers 400 MALFORMED_BODY when the body is %s", (_, body, message) => {
    expect(malformed(body).message).toBe(message);
  });

  it("answers 400 for a body nested deeper than 32 levels, without a stack overflow", () => {
    const deep = `{"eventType":"2","accid":"u1","x":${"[".repeat(30_000)}${"]".repeat(30_000)}}`;
    expect(malformed(deep).message).toBe("body nests deeper than 32 levels");
  });

  it("accepts a byte order mark and surrounding whitespace", () => {
    expect(accept({ body: `\uFEFF ${login()}\n` }).events).toHaveLength(1);
  });

  it.each([
    ["missing", login({ accid: undefined }), "accid is missing"],
    ["null", login({ accid: null }), "accid is missing"],
    ["empty", login({ accid: "" }), "accid is empty"],
    ["blank", login({ accid: "   " }), "accid is empty"],
    ["an object", login({ accid: { id: "t3" } }), "accid is not a string"],
    ["an array", logout({ accid: ["t3"] }), "accid is not a string"],
    ["a boolean", logout({ accid: true }), "accid is not a string"],
  ])("answers 400 when accid is %s", (_, body, message) => {
    expect(malformed(body).message).toBe(message);
  });

  it("answers 400 for an accid over 256 characters, without echoing it", () => {
    const accid = "q".repeat(40_000);
    const error = malformed(logout({ accid }));
    expect(error.message).toBe("accid is longer than 256 characters");
    expect(error.message).not.toContain("qqqq");
    expect(accept({ body: logout({ accid: "q".repeat(256) }) }).events[0]?.userId).toHaveLength(256);
  });

  it.each([
    ["NUL", "bad\u0000user"],
    ["newline", "bad\nuser"],
    ["DEL", "bad\u007fuser"],
  ])("answers 400 for an accid with a %s, without echoing it", (_, accid) => {
    const error = malformed(login({ accid }));
    expect(error.message).toBe("accid contains a control character");
    expect(error.message).not.toContain("bad");
  });

  it("answers 400 for a deviceId over 256 characters or with a control character", () => {
    expect(malformed(login({ deviceId: "d".repeat(257) })).message).toBe("deviceId is longer than 256 characters");
    expect(malformed(login({ deviceId: "d\u0000" })).message).toBe("deviceId contains a control character");
  });
});

describe("event ids", () => {
  const idOf = (body: string, now = NOW) => accept({ body }, { ...OPTIONS, now }).events[0]!.id;

  it("are the same for a re-sent copy, whenever it arrives", () => {
    expect(idOf(login(), NOW)).toBe(idOf(login(), NOW + 3_600_000));
  });

  it("are the same whether NetEase sends the identifying fields as strings or numbers", () => {
    const strings = login();
    const numbers = login({ eventType: 2, code: 200, timestamp: 1608877682237 });
    expect(idOf(strings)).toBe(idOf(numbers));
    expect(idOf(logout({ logOutReason: "2" }))).toBe(idOf(logout({ logOutReason: 2, eventType: 3, code: 200 })));
    expect(idOf(login({ clientType: "1" }))).toBe(idOf(login({ clientType: 1 })));
    expect(idOf(login({ clientType: "AOS" }))).toBe(idOf(login({ clientType: 1 })));
    // Any spelling of the same millisecond is the same time.
    expect(idOf(login({ timestamp: "1608877682237.0" }))).toBe(idOf(numbers));
  });

  it("are the same for a clientType in another case, key order or whitespace", () => {
    expect(idOf(logout({ clientType: "iOS" }))).toBe(idOf(logout({ clientType: "IOS" })));
    const reordered = JSON.stringify(JSON.parse(login()), Object.keys(JSON.parse(login())).reverse(), 2);
    expect(idOf(reordered)).toBe(idOf(login()));
  });

  it("come from the body, not from CurTime or CheckSum", () => {
    const a = accept({ body: login(), headers: { CurTime: "1", CheckSum: "a", MD5: "b" } }).events[0]!.id;
    const b = accept({ body: login(), headers: { CurTime: "2", CheckSum: "c", MD5: "d" } }).events[0]!.id;
    expect(a).toBe(b);
  });

  it("differ for what tells two copies apart", () => {
    const base = idOf(login());
    const others = [
      login({ eventType: "3" }),
      login({ accid: "t4" }),
      login({ clientType: "IOS" }),
      login({ clientType: "WINPHONE" }),
      login({ clientType: "TV" }),
      login({ deviceId: "another-device" }),
      login({ timestamp: "1608877682238" }),
      logout({ logOutReason: "3" }),
    ].map((body) => idOf(body));
    expect(new Set([base, ...others]).size).toBe(others.length + 1);
    expect(idOf(logout({ logOutReason: "3" }))).not.toBe(idOf(logout({ logOutReason: "4" })));
  });

  it("differ per tenant and per AppKey", () => {
    const body = login();
    const base = accept({ body }).events[0]!.id;
    expect(accept({ body }, { ...OPTIONS, tenant: "globex" }).events[0]!.id).not.toBe(base);
    expect(accept({ body }, { ...OPTIONS, appKey: "another-app" }).events[0]!.id).not.toBe(base);
  });

  it("include the arrival time when the copy has no timestamp, so two such logouts do not collide", () => {
    const body = logout({ timestamp: undefined });
    expect(idOf(body, NOW)).not.toBe(idOf(body, NOW + 1));
    expect(idOf(body, NOW)).toBe(idOf(body, NOW));
  });

  it("are core's eventId over the normalized copy", () => {
    const id = eventId({
      tenant: "acme",
      provider: "netease",
      appId: APP_KEY,
      callback: {
        eventType: "3",
        accid: "tes",
        clientType: "ios", // the platform, so IOS, iOS and 2 are one
        timestamp: "1608872658452",
        code: "200",
      },
    });
    expect(idOf(fixture("logout-curl-example.txt"))).toBe(id);
  });
});
