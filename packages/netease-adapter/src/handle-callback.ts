import {
  type AdapterEvent,
  type CallbackRequest,
  type CallbackResult,
  eventId,
  isoTime,
  type Platform,
  userIdProblem,
  vendorTimeMs,
} from "@imrelay/core";
import { type NeteaseAnswer, okAnswer } from "./answer.js";
import { NeteaseCallbackError } from "./errors.js";
import { mapCopy } from "./mapping.js";
import { fieldText, type NeteaseBody, parseBody } from "./parse.js";
import { neteasePlatform } from "./platform.js";
import { verifyAppKey, verifyCheckSum } from "./verify.js";

/** Who the copy is for, and how it is authenticated. */
export interface NeteaseCallbackOptions {
  /** The imrelay tenant the copy belongs to; copied onto each event. */
  tenant: string;
  /** The app's AppKey: each event's `appId`, and what an `AppKey` header must equal. */
  appKey: string;
  /**
   * The app's AppSecret. When set, the `MD5`, `CheckSum` and `CurTime`
   * headers are required and checked; when absent, they are ignored.
   * @default undefined (no checksum is checked)
   */
  appSecret?: string | undefined;
  /**
   * When the copy was received, in ms since the epoch: `receivedAt`, and
   * `occurredAt` when the copy has no usable `timestamp`.
   * @default Date.now()
   */
  now?: number;
}

export type NeteaseCallbackResult = CallbackResult<NeteaseAnswer>;

/**
 * Verifies and parses one NetEase Yunxin (CommsEase) copy (抄送) into imrelay
 * events. Pure: no I/O, no framework. Checks, in order: the checksum (only
 * when `appSecret` is set), the `AppKey` header, the body. A login (`eventType`
 * 2) or logout (3) gives one event; the console's URL probe (`{}` or an empty
 * body), a failed login and every other kind of copy are `unrecognized`, with
 * no events. Either way the copy is answered `response` with HTTP 200. A bad
 * copy throws `NeteaseCallbackError` with `.code`, `.status` and `.response`.
 *
 * @example
 * import { handleCallback, NeteaseCallbackError } from "@imrelay/netease-adapter";
 *
 * try {
 *   const out = handleCallback(
 *     { body: rawBody, headers: req.headers },
 *     { tenant: "acme", appKey: "0123456789abcdef0123456789abcdef", appSecret: process.env.NETEASE_APP_SECRET },
 *   );
 *   await store(out.events);
 *   reply(200, out.response); // {"code":200}
 * } catch (err) {
 *   if (err instanceof NeteaseCallbackError) reply(err.status, err.response); // {"code":401,"desc":"CheckSum does not match"}
 *   else throw err;
 * }
 */
export function handleCallback(request: CallbackRequest, options: NeteaseCallbackOptions): NeteaseCallbackResult {
  const { tenant, appKey, appSecret, now = Date.now() } = options;

  if (appSecret !== undefined) {
    // An empty secret makes CheckSum sha1(MD5 + CurTime): anyone could compute it.
    if (appSecret === "") throw new TypeError("appSecret must be a non-empty string when set");
    verifyCheckSum(request, appSecret);
  }
  verifyAppKey(request.headers, appKey);

  const body = parseBody(request.body);
  if (Object.keys(body).length === 0) return unrecognized("url probe");

  const eventType = fieldText(body.eventType);
  if (eventType === undefined && body.eventType !== undefined) {
    return unrecognized("eventType (not a string or number)");
  }
  const mapping = mapCopy({ eventType, code: fieldText(body.code), logOutReason: fieldText(body.logOutReason) });
  if ("unrecognized" in mapping) return unrecognized(mapping.unrecognized);

  const userId = accidOf(body.accid);
  const connectionId = deviceIdOf(body.deviceId);
  const timestamp = vendorTimeMs(body.timestamp);
  const platform = neteasePlatform(body.clientType);

  const event: AdapterEvent = {
    id: eventId({
      tenant,
      provider: "netease",
      appId: appKey,
      callback: identity(body, { userId, platform, connectionId, timestamp, now }),
    }),
    type: mapping.type,
    tenant,
    provider: "netease",
    appId: appKey,
    userId,
    status: mapping.status,
    reason: mapping.reason,
    platform,
    clientIp: typeof body.clientIp === "string" && body.clientIp.trim() !== "" ? body.clientIp.trim() : null,
    connectionId,
    background: null,
    kickedPlatforms: [],
    customStatus: null,
    occurredAt: isoTime(timestamp ?? now),
    receivedAt: isoTime(now),
  };
  return { events: [event], unrecognized: false, response: okAnswer() };
}

function unrecognized(reason: string): NeteaseCallbackResult {
  return { events: [], unrecognized: true, unrecognizedReason: reason, response: okAnswer() };
}

/** NetEase accids are strings; a number is unambiguous. The text never quotes the value. */
function accidOf(value: unknown): string {
  if (value === undefined || value === null) throw new NeteaseCallbackError("MALFORMED_BODY", "accid is missing");
  const text =
    typeof value === "string" ? value : typeof value === "number" && Number.isFinite(value) ? String(value) : undefined;
  if (text === undefined) throw new NeteaseCallbackError("MALFORMED_BODY", "accid is not a string");
  if (text.trim() === "") throw new NeteaseCallbackError("MALFORMED_BODY", "accid is empty");
  const problem = userIdProblem(text);
  if (problem) throw new NeteaseCallbackError("MALFORMED_BODY", `accid ${problem}`);
  return text;
}

/** The device key presence is kept by, so it gets the same limits as a user id. */
function deviceIdOf(value: unknown): string | null {
  const text =
    typeof value === "string" ? value : typeof value === "number" && Number.isFinite(value) ? String(value) : "";
  if (text.trim() === "") return null;
  const problem = userIdProblem(text);
  if (problem) throw new NeteaseCallbackError("MALFORMED_BODY", `deviceId ${problem}`);
  return text;
}

/**
 * What identifies a copy, for its event id. Built from the body, never from
 * `CurTime` or `CheckSum`, so a re-sent copy gets the same id. Each field is
 * normalized, because NetEase's own examples send one event both with strings
 * and with numbers (`"timestamp":"1608872658452"` and `"timestamp":1608872658452`,
 * `"IOS"` and `"iOS"`; a `clientType` name and its code are one platform). A
 * copy with no usable `timestamp` adds the time it was received, or two
 * logouts of one user and device would share an id.
 */
function identity(
  body: NeteaseBody,
  parsed: {
    userId: string;
    platform: Platform;
    connectionId: string | null;
    timestamp: number | undefined;
    now: number;
  },
): Record<string, string | number | undefined> {
  const { userId, platform, connectionId, timestamp, now } = parsed;
  return {
    eventType: fieldText(body.eventType),
    accid: userId,
    clientType: platform === "unknown" ? fieldText(body.clientType)?.toLowerCase() : platform,
    deviceId: connectionId ?? undefined,
    timestamp: timestamp === undefined ? fieldText(body.timestamp) : String(timestamp),
    logOutReason: fieldText(body.logOutReason),
    code: fieldText(body.code),
    receivedAt: timestamp === undefined ? now : undefined,
  };
}
