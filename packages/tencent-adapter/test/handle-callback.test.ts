import { CallbackError, eventId } from "@imrelay/core";
import { describe, expect, it } from "vitest";
import { TencentCallbackError } from "../src/index.js";
import { accept, fixture, NOW, OPTIONS, SDK_APP_ID, stateChangeQuery, thrown } from "./helpers.js";

const RECEIVED_AT = new Date(NOW).toISOString();

/** The fields every event shares for the default query. */
const COMMON = {
  tenant: "acme",
  provider: "tencent",
  appId: SDK_APP_ID,
  userId: "testuser316",
  platform: "ios",
  clientIp: "127.0.0.1",
  connectionId: null,
  background: null,
  kickedPlatforms: [],
  customStatus: null,
  receivedAt: RECEIVED_AT,
};

function stateChange(info: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    CallbackCommand: "State.StateChange",
    EventTime: 1629883332497,
    Info: { To_Account: "testuser316", ...info },
    ...extra,
  });
}

interface MappingCase {
  name: string;
  body: string;
  expected: Record<string, unknown>;
}

const MAPPING: MappingCase[] = [
  {
    name: "Login/Register with kicked devices (current docs' sample)",
    body: fixture("login-register-kicked.txt"),
    expected: {
      type: "user.online",
      status: "online",
      reason: "login",
      kickedPlatforms: ["windows", "android"],
      occurredAt: "2021-08-25T09:22:12.497Z",
    },
  },
  {
    name: "Login/Register printed on one line (Chinese docs' sample)",
    body: fixture("login-register-kicked-zh.txt"),
    expected: {
      type: "user.online",
      status: "online",
      reason: "login",
      kickedPlatforms: ["windows", "android"],
      occurredAt: "2021-08-25T09:22:12.497Z",
    },
  },
  {
    name: "Logout/Unregister in the 2020 format without EventTime",
    body: fixture("logout-unregister-2020.txt"),
    expected: { type: "user.offline", status: "offline", reason: "logout", occurredAt: RECEIVED_AT },
  },
  {
    name: "Disconnect/LinkClose",
    body: fixture("disconnect-linkclose.txt"),
    expected: { type: "user.offline", status: "offline", reason: "disconnect", occurredAt: "2021-08-25T09:23:20.000Z" },
  },
  {
    name: "Disconnect/TimeOut",
    body: fixture("disconnect-timeout.txt"),
    expected: { type: "user.offline", status: "offline", reason: "timeout", occurredAt: "2021-08-25T09:30:00.000Z" },
  },
  {
    name: "legacy Logout/LinkClose",
    body: fixture("legacy-logout-linkclose.txt"),
    expected: { type: "user.offline", status: "offline", reason: "disconnect", occurredAt: RECEIVED_AT },
  },
  {
    name: "legacy Logout/Timeout (lower-case o)",
    body: fixture("legacy-logout-timeout.txt"),
    expected: { type: "user.offline", status: "offline", reason: "timeout", occurredAt: RECEIVED_AT },
  },
  {
    name: "Logout/OpenKickInstance",
    body: fixture("logout-open-kick-instance.txt"),
    expected: { type: "user.offline", status: "offline", reason: "kicked", occurredAt: "2021-08-25T09:25:00.000Z" },
  },
  {
    name: "Logout/Kicked",
    body: stateChange({ Action: "Logout", Reason: "Kicked" }),
    expected: { type: "user.offline", status: "offline", reason: "kicked", occurredAt: "2021-08-25T09:22:12.497Z" },
  },
  {
    name: "Logout/KickOff",
    body: stateChange({ Action: "Logout", Reason: "KickOff" }),
    expected: { type: "user.offline", status: "offline", reason: "kicked", occurredAt: "2021-08-25T09:22:12.497Z" },
  },
  {
    name: "Disconnect/KickedOff",
    body: stateChange({ Action: "Disconnect", Reason: "KickedOff" }),
    expected: { type: "user.offline", status: "offline", reason: "kicked", occurredAt: "2021-08-25T09:22:12.497Z" },
  },
  {
    name: "Logout/multi_device_kick (any reason mentioning kick)",
    body: stateChange({ Action: "Logout", Reason: "multi_device_kick" }),
    expected: { type: "user.offline", status: "offline", reason: "kicked", occurredAt: "2021-08-25T09:22:12.497Z" },
  },
  {
    name: "CustomStatusChange/SetCustomStatus with a body CustomStatus",
    body: fixture("custom-status.txt"),
    expected: {
      type: "user.status_changed",
      reason: "custom_status",
      customStatus: "in a meeting",
      occurredAt: "2021-08-25T09:26:40.000Z",
    },
  },
  {
    name: "SetCustomStatus under a Login Action with Info.CustomStatus",
    body: stateChange({ Action: "Login", Reason: "SetCustomStatus", CustomStatus: "away" }),
    expected: {
      type: "user.status_changed",
      reason: "custom_status",
      customStatus: "away",
      occurredAt: "2021-08-25T09:22:12.497Z",
    },
  },
  {
    name: "SetCustomStatus with no CustomStatus string",
    body: stateChange({ Action: "CustomStatusChange", Reason: "SetCustomStatus" }, { CustomStatus: 7 }),
    expected: {
      type: "user.status_changed",
      reason: "custom_status",
      customStatus: null,
      occurredAt: "2021-08-25T09:22:12.497Z",
    },
  },
  {
    name: "login/REGISTER in other cases",
    body: stateChange({ Action: "login", Reason: "REGISTER" }),
    expected: { type: "user.online", status: "online", reason: "login", occurredAt: "2021-08-25T09:22:12.497Z" },
  },
  {
    name: "DISCONNECT/timeout in other cases",
    body: stateChange({ Action: "DISCONNECT", Reason: "timeout" }),
    expected: { type: "user.offline", status: "offline", reason: "timeout", occurredAt: "2021-08-25T09:22:12.497Z" },
  },
  {
    name: "logout/LINKCLOSE in other cases",
    body: stateChange({ Action: "logout", Reason: "LINKCLOSE" }),
    expected: { type: "user.offline", status: "offline", reason: "disconnect", occurredAt: "2021-08-25T09:22:12.497Z" },
  },
  {
    name: "an unknown Reason under Login",
    body: stateChange({ Action: "Login", Reason: "Reconnect" }),
    expected: { type: "user.online", status: "online", reason: "other", occurredAt: "2021-08-25T09:22:12.497Z" },
  },
  {
    name: "an unknown Reason under Logout",
    body: stateChange({ Action: "Logout", Reason: "AccountDeleted" }),
    expected: { type: "user.offline", status: "offline", reason: "other", occurredAt: "2021-08-25T09:22:12.497Z" },
  },
  {
    name: "no Reason under Disconnect",
    body: stateChange({ Action: "Disconnect" }),
    expected: { type: "user.offline", status: "offline", reason: "other", occurredAt: "2021-08-25T09:22:12.497Z" },
  },
];

describe("handleCallback mapping", () => {
  it.each(MAPPING)("maps $name", ({ body, expected }) => {
    const result = accept({ body, query: stateChangeQuery() });

    expect(result.unrecognized).toBe(false);
    expect(result.unrecognizedReason).toBeUndefined();
    expect(result.response).toEqual({ ActionStatus: "OK", ErrorCode: 0, ErrorInfo: "" });
    expect(result.events).toHaveLength(1);
    expect(result.events[0]).toStrictEqual({ ...COMMON, id: expect.stringMatching(/^evt_[0-9a-z]{26}$/), ...expected });
  });

  it("leaves status out of a user.status_changed event", () => {
    const [event] = accept({ body: fixture("custom-status.txt"), query: stateChangeQuery() }).events;
    expect(event).not.toHaveProperty("status");
  });

  it.each([
    ["IOS", "ios"],
    ["iOS", "ios"],
    ["Android", "android"],
    ["Web", "web"],
    ["Windows", "windows"],
    ["Mac", "macos"],
    ["macOS", "macos"],
    ["iPad", "ipad"],
    ["RESTAPI", "rest_api"],
    ["Unknown", "unknown"],
    ["Toaster", "unknown"],
  ])("normalizes OptPlatform %s to %s", (optPlatform, platform) => {
    const [event] = accept({
      body: fixture("disconnect-linkclose.txt"),
      query: stateChangeQuery({ OptPlatform: optPlatform }),
    }).events;
    expect(event?.platform).toBe(platform);
  });

  it("uses platform unknown and clientIp null when the query lacks OptPlatform and ClientIP", () => {
    const [event] = accept({
      body: fixture("disconnect-linkclose.txt"),
      query: { SdkAppid: SDK_APP_ID, CallbackCommand: "State.StateChange" },
    }).events;
    expect(event?.platform).toBe("unknown");
    expect(event?.clientIp).toBeNull();
  });

  it("uses the first value of a repeated query parameter", () => {
    const [event] = accept({
      body: fixture("disconnect-linkclose.txt"),
      query: stateChangeQuery({
        SdkAppid: [SDK_APP_ID, "1400000001"],
        ClientIP: ["10.1.2.3", "10.9.9.9"],
        OptPlatform: ["Web"],
      }),
    }).events;
    expect(event?.appId).toBe(SDK_APP_ID);
    expect(event?.clientIp).toBe("10.1.2.3");
    expect(event?.platform).toBe("web");
  });

  it("keeps only string KickedDevice platforms, normalized", () => {
    const body = stateChange(
      { Action: "Login", Reason: "Register" },
      {
        KickedDevice: [
          { Platform: "iPad" },
          { Platform: 3 },
          null,
          "Web",
          {},
          { Platform: "Mac" },
          { Platform: "Fridge" },
        ],
      },
    );
    const [event] = accept({ body, query: stateChangeQuery() }).events;
    expect(event?.kickedPlatforms).toEqual(["ipad", "macos", "unknown"]);
  });

  it("reads a body given as bytes", () => {
    const body = new TextEncoder().encode(fixture("login-register-kicked.txt"));
    const [event] = accept({ body, query: stateChangeQuery() }).events;
    expect(event?.type).toBe("user.online");
    expect(event?.userId).toBe("testuser316");
  });

  it("falls back to receivedAt when EventTime is not milliseconds", () => {
    const body = stateChange({ Action: "Logout", Reason: "Unregister" }, { EventTime: 1629883332 });
    const [event] = accept({ body, query: stateChangeQuery() }).events;
    expect(event?.occurredAt).toBe(RECEIVED_AT);
  });

  it("takes CallbackCommand from the query when the body has none", () => {
    const body = JSON.stringify({ Info: { Action: "Login", To_Account: "u1", Reason: "Register" } });
    const result = accept({ body, query: stateChangeQuery() });
    expect(result.events[0]?.userId).toBe("u1");
  });

  it("ignores the case of the CallbackCommand value", () => {
    const body = JSON.stringify({ CallbackCommand: "state.statechange", Info: { Action: "Login", To_Account: "u1" } });
    expect(accept({ body, query: stateChangeQuery() }).events).toHaveLength(1);
  });
});

describe("handleCallback unrecognized callbacks", () => {
  it("answers OK with no events for another command", () => {
    const result = accept({
      body: fixture("c2c-after-send-msg.txt"),
      query: stateChangeQuery({ CallbackCommand: "C2C.CallbackAfterSendMsg" }),
    });
    expect(result).toEqual({
      events: [],
      unrecognized: true,
      unrecognizedReason: "command C2C.CallbackAfterSendMsg",
      response: { ActionStatus: "OK", ErrorCode: 0, ErrorInfo: "" },
    });
  });

  it("says the command is missing when neither body nor query names one", () => {
    const result = accept({ body: "{}", query: { SdkAppid: SDK_APP_ID } });
    expect(result.unrecognized).toBe(true);
    expect(result.unrecognizedReason).toBe("command (missing)");
  });

  it("answers OK with no events for an unknown Action", () => {
    const result = accept({ body: stateChange({ Action: "Teleport", Reason: "Beam" }), query: stateChangeQuery() });
    expect(result).toEqual({
      events: [],
      unrecognized: true,
      unrecognizedReason: "action Teleport",
      response: { ActionStatus: "OK", ErrorCode: 0, ErrorInfo: "" },
    });
  });

  it("treats a missing Action as unrecognized, not as a crash", () => {
    const result = accept({ body: stateChange({ Reason: "Register" }), query: stateChangeQuery() });
    expect(result.unrecognized).toBe(true);
    expect(result.unrecognizedReason).toBe("action (missing)");
  });

  it("does not treat a kick Reason under an unknown Action as an offline", () => {
    const result = accept({ body: stateChange({ Action: "Evict", Reason: "Kicked" }), query: stateChangeQuery() });
    expect(result.events).toEqual([]);
    expect(result.unrecognizedReason).toBe("action Evict");
  });
});

describe("handleCallback refusals", () => {
  function refusal(body: string, query: Record<string, unknown> = stateChangeQuery()): TencentCallbackError {
    const err = thrown(() => accept({ body, query }));
    expect(err).toBeInstanceOf(TencentCallbackError);
    expect(err).toBeInstanceOf(CallbackError);
    return err as TencentCallbackError;
  }

  it.each([
    ["not JSON", "Action=Login&To_Account=u1", "body is not JSON"],
    ["a JSON array", "[]", "body is a JSON array, not an object"],
    ["empty", "", "body is empty"],
    ["only whitespace", " \n", "body is empty"],
    ["JSON null", "null", "body is a JSON null, not an object"],
    ["a JSON number", "42", "body is a JSON number, not an object"],
    ["a JSON string", '"State.StateChange"', "body is a JSON string, not an object"],
    ["truncated JSON", '{"CallbackCommand":"State.StateChange","Info":{', "body is not JSON"],
  ])("refuses a body that is %s with 400 MALFORMED_BODY", (_, body, message) => {
    const err = refusal(body);
    expect(err.code).toBe("MALFORMED_BODY");
    expect(err.status).toBe(400);
    expect(err.message).toBe(message);
    expect(err.response).toEqual({ ActionStatus: "FAIL", ErrorCode: 1, ErrorInfo: message });
  });

  it.each([
    ["Info is missing", JSON.stringify({ CallbackCommand: "State.StateChange" }), "Info is missing or not an object"],
    [
      "Info is an array",
      JSON.stringify({ CallbackCommand: "State.StateChange", Info: [] }),
      "Info is missing or not an object",
    ],
    [
      "To_Account is missing",
      stateChange({ Action: "Login", Reason: "Register", To_Account: undefined }),
      "Info.To_Account is missing or empty",
    ],
    [
      "To_Account is empty",
      stateChange({ Action: "Login", Reason: "Register", To_Account: "" }),
      "Info.To_Account is missing or empty",
    ],
    [
      "To_Account is an object",
      stateChange({ Action: "Login", To_Account: { id: "u1" } }),
      "Info.To_Account is missing or empty",
    ],
  ])("refuses a State.StateChange where %s with 400 MALFORMED_BODY", (_, body, message) => {
    const err = refusal(body);
    expect(err.code).toBe("MALFORMED_BODY");
    expect(err.status).toBe(400);
    expect(err.response).toEqual({ ActionStatus: "FAIL", ErrorCode: 1, ErrorInfo: message });
  });

  it.each([
    ["40,000 characters long", "x".repeat(40_000), "Info.To_Account is longer than 256 characters"],
    ["holding a NUL byte", "user\u0000316", "Info.To_Account contains a control character"],
    ["holding a newline", "user316\nINFO forged log line", "Info.To_Account contains a control character"],
  ])("refuses a To_Account %s with 400 MALFORMED_BODY, without echoing it", (_, userId, message) => {
    const err = refusal(stateChange({ Action: "Login", Reason: "Register", To_Account: userId }));
    expect(err.code).toBe("MALFORMED_BODY");
    expect(err.status).toBe(400);
    expect(err.response).toEqual({ ActionStatus: "FAIL", ErrorCode: 1, ErrorInfo: message });
  });

  it("takes a To_Account of exactly 256 characters", () => {
    const userId = "u".repeat(256);
    const out = accept({
      body: stateChange({ Action: "Login", Reason: "Register", To_Account: userId }),
      query: stateChangeQuery(),
    });
    expect(out.events[0]?.userId).toBe(userId);
  });

  it("answers 400 MALFORMED_QUERY when SdkAppid is missing", () => {
    const { SdkAppid: _, ...query } = stateChangeQuery();
    const err = refusal(fixture("login-register-kicked.txt"), query);
    expect(err.code).toBe("MALFORMED_QUERY");
    expect(err.status).toBe(400);
    expect(err.response).toEqual({
      ActionStatus: "FAIL",
      ErrorCode: 1,
      ErrorInfo: "SdkAppid is missing from the query",
    });
  });

  it("does not accept a differently cased sdkappid as SdkAppid", () => {
    const { SdkAppid: _, ...query } = stateChangeQuery();
    expect(refusal(fixture("login-register-kicked.txt"), { ...query, sdkappid: SDK_APP_ID }).code).toBe(
      "MALFORMED_QUERY",
    );
  });

  it("answers 403 APP_ID_MISMATCH when SdkAppid is another app's", () => {
    const err = refusal(fixture("login-register-kicked.txt"), stateChangeQuery({ SdkAppid: "1400000001" }));
    expect(err.code).toBe("APP_ID_MISMATCH");
    expect(err.status).toBe(403);
    expect(err.response).toEqual({
      ActionStatus: "FAIL",
      ErrorCode: 1,
      ErrorInfo: "SdkAppid is not this tenant's SDKAppID",
    });
  });

  it("checks SdkAppid before the body", () => {
    expect(refusal("not json", stateChangeQuery({ SdkAppid: "1400000001" })).code).toBe("APP_ID_MISMATCH");
  });

  it("checks the body before the command, so another command with a broken body is refused", () => {
    expect(refusal("not json", stateChangeQuery({ CallbackCommand: "C2C.CallbackAfterSendMsg" })).code).toBe(
      "MALFORMED_BODY",
    );
  });
});

describe("handleCallback event ids", () => {
  const query = stateChangeQuery();

  it("gives a re-sent callback the same id, whenever it arrives", () => {
    const body = fixture("login-register-kicked.txt");
    const first = accept({ body, query }, { ...OPTIONS, now: NOW }).events[0];
    const again = accept({ body, query }, { ...OPTIONS, now: NOW + 5_000 }).events[0];
    expect(again?.id).toBe(first?.id);
  });

  it("gives the same id to the same callback however its JSON is spaced", () => {
    const pretty = accept({ body: fixture("login-register-kicked.txt"), query }).events[0];
    const compact = accept({ body: fixture("login-register-kicked-zh.txt"), query }).events[0];
    expect(compact?.id).toBe(pretty?.id);
  });

  it("derives the id from the tenant, the SdkAppid and the body", () => {
    const body = fixture("login-register-kicked.txt");
    const [event] = accept({ body, query }).events;
    expect(event?.id).toBe(
      eventId({ tenant: "acme", provider: "tencent", appId: SDK_APP_ID, callback: JSON.parse(body) }),
    );
  });

  it("adds the arrival time to the id of a callback without EventTime", () => {
    const body = fixture("logout-unregister-2020.txt");
    const [event] = accept({ body, query }).events;
    expect(event?.id).toBe(
      eventId({
        tenant: "acme",
        provider: "tencent",
        appId: SDK_APP_ID,
        callback: { ...JSON.parse(body), receivedAt: NOW },
      }),
    );
  });

  it("gives two old-format callbacks at different times different ids", () => {
    const body = fixture("logout-unregister-2020.txt");
    const first = accept({ body, query }, { ...OPTIONS, now: NOW }).events[0];
    const later = accept({ body, query }, { ...OPTIONS, now: NOW + 1 }).events[0];
    expect(later?.id).not.toBe(first?.id);
  });

  it("gives the same callback for two tenants different ids", () => {
    const body = fixture("login-register-kicked.txt");
    const acme = accept({ body, query }).events[0];
    const globex = accept({ body, query }, { ...OPTIONS, tenant: "globex" }).events[0];
    expect(globex?.id).not.toBe(acme?.id);
  });

  it("gives different callbacks different ids", () => {
    const ids = new Set(
      ["login-register-kicked.txt", "disconnect-linkclose.txt", "disconnect-timeout.txt", "custom-status.txt"].map(
        (name) => accept({ body: fixture(name), query }).events[0]?.id,
      ),
    );
    expect(ids.size).toBe(4);
  });
});
