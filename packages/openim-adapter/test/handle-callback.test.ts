import { CallbackError } from "@imrelay/core";
import { describe, expect, it } from "vitest";
import { handleCallback, OpenImCallbackError, type OpenImCallbackRequest } from "../src/index.js";
import { accept, fixture, fixtureBody, TENANT, thrown } from "./helpers.js";

const RECEIVED_AT = new Date(TENANT.now!).toISOString();

const COMMANDS = [
  {
    command: "callbackAfterUserOnlineCommand",
    fixture: "v3.8-user-online.txt",
    type: "user.online",
    status: "online",
    reason: "login",
  },
  {
    command: "callbackUserOnlineCommand",
    fixture: "v3.8-user-online.txt",
    type: "user.online",
    status: "online",
    reason: "login",
  },
  {
    command: "callbackAfterUserOfflineCommand",
    fixture: "v3.8-user-offline.txt",
    type: "user.offline",
    status: "offline",
    reason: "disconnect",
  },
  {
    command: "callbackUserOfflineCommand",
    fixture: "v3.8-user-offline.txt",
    type: "user.offline",
    status: "offline",
    reason: "disconnect",
  },
  {
    command: "callbackAfterUserKickOffCommand",
    fixture: "v3.8-user-kick-off.txt",
    type: "user.offline",
    status: "offline",
    reason: "kicked",
  },
  {
    command: "callbackUserKickOffCommand",
    fixture: "v3.8-user-kick-off.txt",
    type: "user.offline",
    status: "offline",
    reason: "kicked",
  },
] as const;

const SOURCES = ["path", "query", "body"] as const;

/** The request with the command in one place only, so the test proves that place is read. */
function requestWith(source: (typeof SOURCES)[number], command: string, fixtureName: string): OpenImCallbackRequest {
  const { callbackCommand: _dropped, ...body } = fixtureBody(fixtureName);
  if (source === "path") return { body: `${JSON.stringify(body)}\n`, path: `/openim/${command}` };
  if (source === "query")
    return { body: `${JSON.stringify(body)}\n`, path: "/openim", query: { command, contenttype: "json" } };
  return { body: `${JSON.stringify({ callbackCommand: command, ...body })}\n`, path: "/openim" };
}

describe("handleCallback commands", () => {
  for (const row of COMMANDS) {
    for (const source of SOURCES) {
      it(`maps ${row.command} from the ${source} to ${row.type}/${row.reason}`, () => {
        const body = fixtureBody(row.fixture);
        const result = accept(requestWith(source, row.command, row.fixture));

        expect(result.unrecognized).toBe(false);
        expect(result.unrecognizedReason).toBeUndefined();
        expect(result.response).toEqual({ actionCode: 0, errCode: 0, errMsg: "", errDlt: "", nextCode: 0 });
        expect(result.events).toHaveLength(1);
        const [event] = result.events;
        expect(event?.id).toMatch(/^evt_[0-9a-z]{26}$/);
        expect(event).toEqual({
          id: event?.id,
          type: row.type,
          tenant: "acme",
          provider: "openim",
          appId: "acme-openim",
          userId: "u1",
          status: row.status,
          reason: row.reason,
          platform: "web",
          clientIp: null,
          connectionId: null,
          background: row.status === "online" ? false : null,
          kickedPlatforms: [],
          customStatus: null,
          occurredAt: new Date(body["seq"] as number).toISOString(),
          receivedAt: RECEIVED_AT,
        });
      });
    }
  }

  it("reads the command after a double slash from a configured url with a trailing slash", () => {
    const result = accept({
      body: fixture("v3.8-user-offline.txt"),
      path: "/v1/tenants/acme/openim//callbackAfterUserOfflineCommand",
    });
    expect(result.events[0]?.type).toBe("user.offline");
    expect(result.events[0]?.reason).toBe("disconnect");
  });

  it("lets the path command win when the body names another command", () => {
    const result = accept({ body: fixture("v3.8-user-online.txt"), path: "/openim/callbackAfterUserKickOffCommand" });
    expect(result.events[0]?.reason).toBe("kicked");
  });

  it("lets the query command win over the body's when the path has none", () => {
    const result = accept({
      body: fixture("v3.8-user-online.txt"),
      path: "/openim",
      query: { command: "callbackUserOfflineCommand" },
    });
    expect(result.events[0]?.status).toBe("offline");
  });

  it("ignores a last path segment that is not a command and falls back to the body", () => {
    const result = accept({ body: fixture("v3.8-user-offline.txt"), path: "/openim/s3cr3t-segment/" });
    expect(result.events[0]?.type).toBe("user.offline");
  });

  it("ignores a query string left on the path", () => {
    const result = accept({
      body: fixture("v3.8-user-online.txt"),
      path: "/openim/callbackAfterUserOfflineCommand?command=callbackAfterUserOnlineCommand",
    });
    expect(result.events[0]?.status).toBe("offline");
  });

  it("takes the first value of a repeated command query parameter", () => {
    const { callbackCommand: _dropped, ...body } = fixtureBody("v3.8-user-online.txt");
    const result = accept({
      body: JSON.stringify(body),
      query: { command: ["callbackAfterUserKickOffCommand", "callbackAfterUserOnlineCommand"] },
    });
    expect(result.events[0]?.reason).toBe("kicked");
  });
});

describe("handleCallback unrecognized commands", () => {
  it("answers OK with no events for an authentic command imrelay does not map", () => {
    const result = accept({
      body: '{"callbackCommand":"callbackBeforeSendSingleMsgCommand","sendID":"u1"}\n',
      path: "/openim/callbackBeforeSendSingleMsgCommand",
    });
    expect(result).toEqual({
      events: [],
      unrecognized: true,
      unrecognizedReason: "command callbackBeforeSendSingleMsgCommand",
      response: { actionCode: 0, errCode: 0, errMsg: "", errDlt: "", nextCode: 0 },
    });
  });

  it("reports a callback with no command anywhere as unrecognized", () => {
    const result = accept({ body: '{"userID":"u1","seq":1751440000000}', path: "/openim" });
    expect(result.unrecognized).toBe(true);
    expect(result.unrecognizedReason).toBe("command (none)");
    expect(result.events).toEqual([]);
  });

  it("does not require userID for an unrecognized command", () => {
    const result = accept({ body: "{}", path: "/openim/callbackAfterGroupCreateCommand" });
    expect(result.unrecognizedReason).toBe("command callbackAfterGroupCreateCommand");
  });

  it("lets an unknown path command win over a known body command", () => {
    const result = accept({
      body: fixture("v3.8-user-online.txt"),
      path: "/openim/callbackAfterUserOnlineBetaCommand",
    });
    expect(result.unrecognized).toBe(true);
    expect(result.events).toEqual([]);
  });
});

describe("handleCallback fields", () => {
  const PLATFORMS = [
    [1, "IOS", "ios"],
    [2, "Android", "android"],
    [3, "Windows", "windows"],
    [4, "OSX", "macos"],
    [5, "Web", "web"],
    [6, "MiniWeb", "mini_program"],
    [7, "Linux", "linux"],
    [8, "APad", "android_pad"],
    [9, "IPad", "ipad"],
    [10, "Admin", "admin"],
    [11, "HarmonyOS", "harmonyos"],
  ] as const;

  for (const [platformID, platform, expected] of PLATFORMS) {
    it(`maps platformID ${platformID} (${platform}) to ${expected}`, () => {
      const body = { ...fixtureBody("v3.8-user-online.txt"), platformID, platform };
      expect(accept({ body: JSON.stringify(body) }).events[0]?.platform).toBe(expected);
    });
  }

  it("maps an unknown platformID sent with an empty platform name to unknown", () => {
    const body = { ...fixtureBody("v3.8-user-online.txt"), platformID: 42, platform: "" };
    expect(accept({ body: JSON.stringify(body) }).events[0]?.platform).toBe("unknown");
  });

  it("falls back to the platform name when the platformID is unknown", () => {
    const body = { ...fixtureBody("v3.8-user-online.txt"), platformID: 42, platform: "OSX" };
    expect(accept({ body: JSON.stringify(body) }).events[0]?.platform).toBe("macos");
  });

  it("falls back to the platform name when the platformID is absent", () => {
    const { platformID: _dropped, ...body } = fixtureBody("v3.8-user-online.txt");
    body["platform"] = "IPad";
    expect(accept({ body: JSON.stringify(body) }).events[0]?.platform).toBe("ipad");
  });

  it("parses the older documented body shape from OpenIM's docs", () => {
    const result = accept({
      body: fixture("seed-user-offline.txt"),
      path: "/openim",
      query: { command: "callbackUserOfflineCommand", contenttype: "json" },
    });
    expect(result.events[0]).toEqual({
      id: result.events[0]?.id,
      type: "user.offline",
      tenant: "acme",
      provider: "openim",
      appId: "acme-openim",
      userId: "user123",
      status: "offline",
      reason: "disconnect",
      platform: "unknown",
      clientIp: null,
      connectionId: "conn123",
      background: null,
      kickedPlatforms: [],
      customStatus: null,
      // The old seq is a counter, not a time, so the receive time stands in.
      occurredAt: RECEIVED_AT,
      receivedAt: RECEIVED_AT,
    });
  });

  it("keeps a non-empty connID as the connectionId", () => {
    const body = { ...fixtureBody("v3.8-user-online.txt"), connID: "c-17" };
    expect(accept({ body: JSON.stringify(body) }).events[0]?.connectionId).toBe("c-17");
  });

  it("copies isAppBackground true into background", () => {
    const body = { ...fixtureBody("v3.8-user-online.txt"), isAppBackground: true };
    expect(accept({ body: JSON.stringify(body) }).events[0]?.background).toBe(true);
  });

  it("uses receivedAt as occurredAt when seq is missing", () => {
    const { seq: _dropped, ...body } = fixtureBody("v3.8-user-online.txt");
    expect(accept({ body: JSON.stringify(body) }).events[0]?.occurredAt).toBe(RECEIVED_AT);
  });

  it("defaults now to the clock", () => {
    const before = Date.now();
    const { receivedAt } = handleCallback({ body: fixture("v3.8-user-online.txt") }, { tenant: "acme", appId: "a" })
      .events[0]!;
    expect(Date.parse(receivedAt)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(receivedAt)).toBeLessThanOrEqual(Date.now());
  });

  it("accepts a Uint8Array body with surrounding whitespace", () => {
    const bytes = new TextEncoder().encode(`\r\n  ${fixture("v3.8-user-online.txt")}  \r\n`);
    expect(accept({ body: bytes }).events[0]?.userId).toBe("u1");
  });

  it("reads the operationID header as Go spells it, Operationid", () => {
    const result = accept({ body: fixture("v3.8-user-online.txt"), headers: { Operationid: "op-from-header" } });
    expect(result.operationId).toBe("op-from-header");
  });

  it("reads the operationID header in lower case as Node delivers it", () => {
    const result = accept({ body: fixture("v3.8-user-online.txt"), headers: { operationid: "op-lower" } });
    expect(result.operationId).toBe("op-lower");
  });

  it("falls back to the body's operationID when the header is absent", () => {
    expect(accept({ body: fixture("v3.8-user-online.txt"), headers: {} }).operationId).toBe("p_1234_57");
  });

  it("has no operationId when neither the header nor the body has one", () => {
    expect(accept({ body: fixture("seed-user-offline.txt") })).not.toHaveProperty("operationId");
  });
});

describe("handleCallback basic auth", () => {
  const basicAuth = { username: "openim", password: "p:ss w0rd" };
  const options = { ...TENANT, basicAuth };
  const encode = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;

  it("accepts the configured credentials, even with a colon in the password", () => {
    const result = accept(
      { body: fixture("v3.8-user-online.txt"), headers: { Authorization: encode("openim", "p:ss w0rd") } },
      options,
    );
    expect(result.events).toHaveLength(1);
  });

  it("accepts a lower-case scheme and header name", () => {
    const result = accept(
      {
        body: fixture("v3.8-user-online.txt"),
        headers: { authorization: encode("openim", "p:ss w0rd").replace("Basic", "basic") },
      },
      options,
    );
    expect(result.events).toHaveLength(1);
  });

  it("answers 401 CREDENTIALS_MISSING when there is no Authorization header", () => {
    const err = thrown(() => handleCallback({ body: fixture("v3.8-user-online.txt") }, options));
    expect(err).toBeInstanceOf(OpenImCallbackError);
    expect(err).toMatchObject({ code: "CREDENTIALS_MISSING", status: 401 });
    expect((err as OpenImCallbackError).response).toEqual({
      actionCode: 1,
      errCode: 401,
      errMsg: "Basic auth credentials are missing",
      errDlt: "CREDENTIALS_MISSING",
      nextCode: 0,
    });
  });

  it("answers 401 CREDENTIALS_MISSING when the Authorization header is not Basic", () => {
    const err = thrown(() =>
      handleCallback(
        { body: fixture("v3.8-user-online.txt"), headers: { Authorization: "Bearer p:ss w0rd" } },
        options,
      ),
    );
    expect(err).toMatchObject({ code: "CREDENTIALS_MISSING", status: 401 });
  });

  it("checks credentials before the body", () => {
    const err = thrown(() => handleCallback({ body: "not json" }, options));
    expect(err).toMatchObject({ code: "CREDENTIALS_MISSING" });
  });

  for (const [what, user, pass] of [
    ["the password is wrong", "openim", "wrong"],
    ["the username is wrong", "admin", "p:ss w0rd"],
    ["both are wrong", "admin", "wrong"],
    ["the password is a prefix of the right one", "openim", "p:ss"],
  ] as const) {
    it(`answers 401 CREDENTIALS_INVALID when ${what}`, () => {
      const err = thrown(() =>
        handleCallback(
          { body: fixture("v3.8-user-online.txt"), headers: { Authorization: encode(user, pass) } },
          options,
        ),
      );
      expect(err).toMatchObject({ code: "CREDENTIALS_INVALID", status: 401 });
      expect((err as Error).message).toBe("Basic auth credentials do not match");
      expect(JSON.stringify((err as OpenImCallbackError).response)).not.toContain("p:ss");
    });
  }

  it("answers 401 CREDENTIALS_INVALID when the decoded credentials have no colon", () => {
    const header = `Basic ${Buffer.from("openim").toString("base64")}`;
    const err = thrown(() =>
      handleCallback({ body: fixture("v3.8-user-online.txt"), headers: { Authorization: header } }, options),
    );
    expect(err).toMatchObject({ code: "CREDENTIALS_INVALID" });
  });

  it("checks no credentials when basicAuth is not configured", () => {
    const result = accept({ body: fixture("v3.8-user-online.txt"), headers: { Authorization: encode("x", "y") } });
    expect(result.events).toHaveLength(1);
  });
});

describe("handleCallback malformed bodies", () => {
  for (const [what, body, message] of [
    ["empty", "", "body is empty; expected a JSON object"],
    ["only whitespace", " \n", "body is empty; expected a JSON object"],
    ["not JSON", "userID=u1", "body is not valid JSON"],
    ["truncated JSON", '{"userID":"u1"', "body is not valid JSON"],
    ["a JSON array", "[]\n", "body is an array; expected a JSON object"],
    ["JSON null", "null", "body is null; expected a JSON object"],
    ["a JSON number", "42", "body is a number; expected a JSON object"],
    ["a JSON string", '"u1"', "body is a string; expected a JSON object"],
  ] as const) {
    it(`answers 400 MALFORMED_BODY when the body is ${what}`, () => {
      const err = thrown(() => handleCallback({ body, path: "/openim/callbackAfterUserOnlineCommand" }, TENANT));
      expect(err).toBeInstanceOf(OpenImCallbackError);
      expect(err).toBeInstanceOf(CallbackError);
      expect(err).toMatchObject({ code: "MALFORMED_BODY", status: 400, message });
      expect((err as OpenImCallbackError).response).toEqual({
        actionCode: 1,
        errCode: 400,
        errMsg: message,
        errDlt: "MALFORMED_BODY",
        nextCode: 0,
      });
    });
  }

  for (const [what, userID, message] of [
    ["missing", undefined, "userID is missing"],
    ["empty", "", "userID is missing"],
    ["blank", "  ", "userID is not a non-empty string"],
    ["a number", 7, "userID is not a non-empty string"],
  ] as const) {
    it(`answers 400 MALFORMED_BODY when userID is ${what} on a recognized command`, () => {
      const body = JSON.stringify({ ...fixtureBody("v3.8-user-online.txt"), userID });
      const err = thrown(() => handleCallback({ body }, TENANT));
      expect(err).toMatchObject({ code: "MALFORMED_BODY", status: 400, message });
    });
  }
});

describe("handleCallback on an absurd userID", () => {
  for (const [what, userID, message] of [
    ["40,000 characters long", "x".repeat(40_000), "userID is longer than 256 characters"],
    ["holding a NUL byte", "u\u00001", "userID contains a control character"],
    ["holding a DEL", "u1\u007f", "userID contains a control character"],
  ] as const) {
    it(`answers 400 MALFORMED_BODY in OpenIM's envelope when userID is ${what}, without echoing it`, () => {
      const body = JSON.stringify({ ...fixtureBody("v3.8-user-online.txt"), userID });
      const err = thrown(() => handleCallback({ body }, TENANT));
      expect(err).toBeInstanceOf(OpenImCallbackError);
      expect(err).toMatchObject({
        code: "MALFORMED_BODY",
        status: 400,
        response: { actionCode: 1, errCode: 400, errMsg: message, errDlt: "MALFORMED_BODY", nextCode: 0 },
      });
    });
  }

  it("takes a userID of exactly 256 characters", () => {
    const userID = "u".repeat(256);
    const body = JSON.stringify({ ...fixtureBody("v3.8-user-online.txt"), userID });
    expect(accept({ body }).events[0]?.userId).toBe(userID);
  });
});

describe("handleCallback event ids", () => {
  const online = fixture("v3.8-user-online.txt");
  const id = (request: OpenImCallbackRequest, options = TENANT) => accept(request, options).events[0]?.id;

  it("gives the same id to the same callback received at different times", () => {
    expect(id({ body: online }, { ...TENANT, now: 1 })).toBe(id({ body: online }, { ...TENANT, now: 2 }));
  });

  it("gives the same id whether the command came by path, query or body", () => {
    const byBody = id({ body: online });
    expect(id({ body: online, path: "/openim/callbackAfterUserOnlineCommand" })).toBe(byBody);
    expect(id({ body: online, query: { command: "callbackAfterUserOnlineCommand" } })).toBe(byBody);
  });

  it("gives the same id to the same body with other whitespace and key order", () => {
    const reordered = JSON.stringify(
      Object.fromEntries(Object.entries(fixtureBody("v3.8-user-online.txt")).reverse()),
      null,
      2,
    );
    expect(id({ body: reordered })).toBe(id({ body: online }));
  });

  it("gives a known id for the v3.8 online fixture", () => {
    // Pinned so a change to how ids are derived is seen: receivers dedupe on it.
    expect(id({ body: online })).toBe("evt_3hch90xh262jafvxnm5k6mtrxg");
    expect(id({ body: Buffer.from(online) })).toBe("evt_3hch90xh262jafvxnm5k6mtrxg");
  });

  it("gives different ids to other seqs, users, tenants and app ids", () => {
    const base = id({ body: online });
    const other = (patch: Record<string, unknown>) =>
      JSON.stringify({ ...fixtureBody("v3.8-user-online.txt"), ...patch });
    const ids = [
      base,
      id({ body: other({ seq: 1751440000001 }) }),
      id({ body: other({ userID: "u2" }) }),
      id({ body: online }, { ...TENANT, tenant: "globex" }),
      id({ body: online }, { ...TENANT, appId: "other-app" }),
      id({ body: online, path: "/openim/callbackAfterUserOfflineCommand" }),
    ];
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("tells apart old-format callbacks with equal bodies received at different times", () => {
    const seed = fixture("seed-user-offline.txt");
    expect(id({ body: seed }, { ...TENANT, now: 1_751_440_000_000 })).not.toBe(
      id({ body: seed }, { ...TENANT, now: 1_751_440_000_001 }),
    );
    expect(id({ body: seed }, { ...TENANT, now: 1_751_440_000_000 })).toBe(
      id({ body: seed }, { ...TENANT, now: 1_751_440_000_000 }),
    );
  });
});
