import { describe, expect, it } from "vitest";
import { AgoraCallbackError, handleCallback } from "../src/index.js";
import { APP_KEY, accept, fixture, NOW, OPTIONS, SIGNED, sampleWith, thrown } from "./helpers.js";

const RECEIVED_AT = new Date(NOW).toISOString();
const RESOURCE = "ios_6d580737-db3a-d2b5-da18-b6045ffd195b";

describe("handleCallback on the vendor's logout sample", () => {
  it("gives one user.offline/logout event with every field", () => {
    const result = accept(fixture("logout-ios.txt"), SIGNED);

    expect(result.unrecognized).toBe(false);
    expect(result.unrecognizedReason).toBeUndefined();
    expect(result.response).toEqual({ status: "ok" });
    expect(result.events).toHaveLength(1);
    const [event] = result.events;
    expect(event?.id).toMatch(/^evt_[0-9a-z]{26}$/);
    expect(event).toEqual({
      id: event?.id,
      type: "user.offline",
      tenant: "acme",
      provider: "agora",
      appId: "61000000#acme",
      userId: "alice",
      status: "offline",
      reason: "logout",
      platform: "ios",
      clientIp: "223.71.97.198",
      connectionId: RESOURCE,
      background: null,
      kickedPlatforms: [],
      customStatus: null,
      occurredAt: "2022-01-20T03:21:54.742Z",
      receivedAt: RECEIVED_AT,
    });
  });

  it('answers {"status":"ok"} as JSON text', () => {
    expect(JSON.stringify(accept(fixture("logout-ios.txt")).response)).toBe('{"status":"ok"}');
  });

  it("takes the body as bytes too", () => {
    const bytes = new TextEncoder().encode(fixture("logout-ios.txt"));
    expect(accept(bytes, SIGNED).events[0]?.userId).toBe("alice");
  });
});

describe("handleCallback mapping", () => {
  const ROWS = [
    { reason: "login", status: "online", type: "user.online", mapped: "login" },
    { reason: "logout", status: "offline", type: "user.offline", mapped: "logout" },
    { reason: "replaced", status: "offline", type: "user.offline", mapped: "kicked" },
    { reason: "migrated", status: "online", type: "user.online", mapped: "other" },
    { reason: "migrated", status: "offline", type: "user.offline", mapped: "other" },
  ] as const;

  for (const row of ROWS) {
    it(`maps reason ${row.reason} with status ${row.status} to ${row.type}/${row.mapped}`, () => {
      const [event] = accept(sampleWith({ reason: row.reason, status: row.status }), SIGNED).events;
      expect(event).toMatchObject({ type: row.type, status: row.status, reason: row.mapped });
    });
  }

  it("lets reason decide when status disagrees", () => {
    expect(accept(sampleWith({ reason: "login", status: "offline" })).events[0]).toMatchObject({
      type: "user.online",
      status: "online",
      reason: "login",
    });
    expect(accept(sampleWith({ reason: "replaced", status: "online" })).events[0]).toMatchObject({
      status: "offline",
      reason: "kicked",
    });
  });

  it("maps a known reason even without status", () => {
    expect(accept(sampleWith({ reason: "login", status: undefined })).events[0]?.type).toBe("user.online");
  });

  it("matches reason and status case-insensitively", () => {
    expect(accept(sampleWith({ reason: "LOGIN" })).events[0]?.reason).toBe("login");
    expect(accept(sampleWith({ reason: "Replaced" })).events[0]?.reason).toBe("kicked");
    expect(accept(sampleWith({ reason: "newthing", status: "ONLINE" })).events[0]?.status).toBe("online");
  });

  it("is unrecognized for an unknown reason without a usable status", () => {
    for (const status of [undefined, "away", 1, "constructor"]) {
      const result = accept(sampleWith({ reason: "teleported", status }));
      expect(result).toEqual({
        events: [],
        unrecognized: true,
        unrecognizedReason: "reason teleported",
        response: { status: "ok" },
      });
    }
  });

  it("does not take a reason naming an Object.prototype member for a known one", () => {
    for (const reason of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
      expect(accept(sampleWith({ reason, status: undefined })).unrecognized).toBe(true);
      expect(accept(sampleWith({ reason, status: "offline" })).events[0]?.reason).toBe("other");
    }
  });

  it("cuts a long unknown reason in unrecognizedReason and drops its control characters", () => {
    const result = accept(sampleWith({ reason: `a\u0000b${"x".repeat(10_000)}`, status: undefined }));
    expect(result.unrecognizedReason).toBe(`reason a?b${"x".repeat(61)}…`);
  });

  it("is unrecognized, and not an error, for a message callback of the same rule", () => {
    expect(accept(fixture("message-chat.txt"), SIGNED)).toEqual({
      events: [],
      unrecognized: true,
      unrecognizedReason: "eventType chat",
      response: { status: "ok" },
    });
    const offline = JSON.stringify({ ...JSON.parse(fixture("message-chat.txt")), eventType: "chat_offline" });
    expect(accept(offline).unrecognizedReason).toBe("eventType chat_offline");
  });

  it("is unrecognized for an authentic body with no reason at all", () => {
    expect(accept("{}")).toMatchObject({ events: [], unrecognized: true, unrecognizedReason: "no reason" });
    expect(accept(sampleWith({ reason: undefined })).unrecognized).toBe(true);
    expect(accept(sampleWith({ reason: "" })).unrecognized).toBe(true);
  });
});

describe("handleCallback fields", () => {
  it("uses the body's appkey as appId, and the configured one when the body has none", () => {
    expect(accept(fixture("logout-ios.txt")).events[0]?.appId).toBe("61000000#acme");
    expect(accept(sampleWith({ appkey: undefined })).events[0]?.appId).toBe(APP_KEY);
    expect(accept(sampleWith({ appkey: null })).events[0]?.appId).toBe(APP_KEY);
  });

  it("takes occurredAt from timestamp, as a number or a numeric string", () => {
    expect(accept(sampleWith({ timestamp: 1642648914742 })).events[0]?.occurredAt).toBe("2022-01-20T03:21:54.742Z");
    expect(accept(sampleWith({ timestamp: "1642648914742" })).events[0]?.occurredAt).toBe("2022-01-20T03:21:54.742Z");
  });

  it("falls back to receivedAt without a usable timestamp", () => {
    for (const timestamp of [undefined, "soon", 1642648914]) {
      expect(accept(sampleWith({ timestamp })).events[0]?.occurredAt).toBe(RECEIVED_AT);
    }
  });

  it("defaults now to the clock", () => {
    const before = Date.now();
    const event = handleCallback({ body: fixture("logout-ios.txt") }, { tenant: "acme", appKey: APP_KEY }).events[0];
    expect(Date.parse(event!.receivedAt)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(event!.receivedAt)).toBeLessThanOrEqual(Date.now());
  });

  it("gives two devices of the same os different connectionIds and ids", () => {
    const iphone = accept(sampleWith({ user: `${APP_KEY}_alice/ios_aaaa-1111` })).events[0];
    const ipad = accept(sampleWith({ user: `${APP_KEY}_alice/ios_bbbb-2222` })).events[0];
    expect(iphone).toMatchObject({ userId: "alice", platform: "ios", connectionId: "ios_aaaa-1111" });
    expect(ipad).toMatchObject({ userId: "alice", platform: "ios", connectionId: "ios_bbbb-2222" });
    expect(iphone?.id).not.toBe(ipad?.id);
  });

  it("has a null connectionId when user names no resource", () => {
    expect(accept(sampleWith({ user: `${APP_KEY}_alice` })).events[0]?.connectionId).toBeNull();
  });

  it("ignores unknown fields", () => {
    const plain = accept(fixture("logout-ios.txt")).events[0];
    const extra = accept(sampleWith({ securityVersion: "1.0.0", brandNew: { nested: [1, 2] } })).events[0];
    expect(extra).toEqual(plain);
  });
});

describe("handleCallback event ids", () => {
  it("gives a resend under a new callId and security the same id", () => {
    const first = accept(fixture("logout-ios.txt")).events[0];
    const resend = accept(
      sampleWith({ callId: "61000000#acme_00000000-0000-4000-8000-000000000000", security: "1".repeat(32) }),
    ).events[0];
    expect(resend?.id).toBe(first?.id);
  });

  it("gives a resend received later the same id", () => {
    const first = accept(fixture("logout-ios.txt")).events[0];
    const later = accept(fixture("logout-ios.txt"), { ...OPTIONS, now: NOW + 60_000 }).events[0];
    expect(later?.id).toBe(first?.id);
  });

  it("gives the same id for the timestamp as a number and as a numeric string", () => {
    const asNumber = accept(sampleWith({ timestamp: 1642648914742 })).events[0];
    const asString = accept(sampleWith({ timestamp: "1642648914742" })).events[0];
    expect(asString?.id).toBe(asNumber?.id);
  });

  it("gives different ids for another user, device, reason, time, appkey or tenant", () => {
    const base = accept(fixture("logout-ios.txt")).events[0]?.id;
    const others = [
      accept(sampleWith({ user: `${APP_KEY}_bob@easemob.com/${RESOURCE}` })),
      accept(sampleWith({ user: `${APP_KEY}_alice@easemob.com/ios_other` })),
      accept(sampleWith({ reason: "replaced" })),
      accept(sampleWith({ timestamp: 1642648914743 })),
      accept(sampleWith({ appkey: "61000000#beta" }), { ...OPTIONS, appKey: "61000000#beta" }),
      accept(fixture("logout-ios.txt"), { ...OPTIONS, tenant: "globex" }),
    ].map((result) => result.events[0]?.id);
    expect(new Set([base, ...others]).size).toBe(others.length + 1);
  });

  it("tells two timestamp-less logouts of one device apart by their arrival", () => {
    const body = sampleWith({ timestamp: undefined });
    const first = accept(body).events[0];
    const second = accept(body, { ...OPTIONS, now: NOW + 1 }).events[0];
    expect(second?.id).not.toBe(first?.id);
  });
});

describe("handleCallback refusals", () => {
  it("answers 403 APP_ID_MISMATCH when appkey is another app's", () => {
    for (const appkey of ["61000000#other", "61000000#ACME", "", 61000000]) {
      const err = thrown(() => accept(sampleWith({ appkey }), SIGNED));
      expect(err).toBeInstanceOf(AgoraCallbackError);
      expect(err).toMatchObject({
        code: "APP_ID_MISMATCH",
        status: 403,
        response: {
          status: "error",
          error: "APP_ID_MISMATCH",
          error_description: "appkey is not this tenant's appKey",
        },
      });
    }
  });

  it("checks appkey on message callbacks too", () => {
    const other = JSON.stringify({ ...JSON.parse(fixture("message-chat.txt")), appkey: "61000000#other" });
    expect(thrown(() => accept(other))).toMatchObject({ code: "APP_ID_MISMATCH" });
  });

  it("checks security before appkey, so an unsigned caller learns nothing about the appkey", () => {
    const body = sampleWith({ appkey: "61000000#other", security: "0".repeat(32) });
    expect(thrown(() => accept(body, SIGNED))).toMatchObject({ code: "SIGNATURE_MISMATCH" });
  });

  it("answers 400 MALFORMED_BODY when a login, logout or replaced has no user", () => {
    const cases = [
      { reason: "login" },
      { reason: "logout" },
      { reason: "replaced" },
      { reason: "migrated", status: "online" },
    ];
    for (const change of cases) {
      expect(thrown(() => accept(sampleWith({ ...change, user: undefined })))).toMatchObject({
        code: "MALFORMED_BODY",
        status: 400,
        message: "user is missing",
        response: { status: "error", error: "MALFORMED_BODY", error_description: "user is missing" },
      });
    }
  });

  it("answers 400 MALFORMED_BODY when user is not a string", () => {
    expect(thrown(() => accept(sampleWith({ user: { id: "alice" } })))).toMatchObject({
      code: "MALFORMED_BODY",
      message: "user is not a string",
    });
  });

  const BAD_BODIES = [
    ["empty", "", "body is empty; expected a JSON object"],
    ["whitespace", " \n", "body is empty; expected a JSON object"],
    ["not JSON", "user=alice&reason=login", "body is not valid JSON"],
    ["a JSON array", "[]", "body is an array; expected a JSON object"],
    ["JSON null", "null", "body is null; expected a JSON object"],
    ["a JSON string", '"login"', "body is a string; expected a JSON object"],
    ["a JSON number", "42", "body is a number; expected a JSON object"],
  ] as const;

  for (const [what, body, message] of BAD_BODIES) {
    it(`answers 400 MALFORMED_BODY when the body is ${what}`, () => {
      for (const options of [OPTIONS, SIGNED]) {
        expect(thrown(() => accept(body, options))).toMatchObject({ code: "MALFORMED_BODY", status: 400, message });
      }
    });
  }

  it("accepts a body with a byte order mark and surrounding whitespace", () => {
    expect(accept(`\uFEFF ${fixture("logout-ios.txt")}\n`, SIGNED).events).toHaveLength(1);
  });

  it("refuses a body nested 30,000 levels deep as MALFORMED_BODY, not a stack overflow", () => {
    const deep = `{"reason":"login","user":"u","x":${"[".repeat(30_000)}${"]".repeat(30_000)}}`;
    expect(thrown(() => accept(deep))).toMatchObject({ code: "MALFORMED_BODY", status: 400 });
  });

  it("throws a TypeError for an empty appKey", () => {
    expect(() => handleCallback({ body: "{}" }, { tenant: "acme", appKey: "" })).toThrowError(
      new TypeError("appKey must be a non-empty string"),
    );
  });
});
