import {
  type AdapterEvent,
  type CallbackRequest,
  type CallbackResult,
  eventId,
  firstValue,
  isoTime,
  type Platform,
  userIdProblem,
  vendorTimeMs,
} from "@imrelay/core";
import { okAnswer, type TencentAnswer } from "./answer.js";
import { TencentCallbackError } from "./errors.js";
import { mapStateChange } from "./mapping.js";
import { parseBody } from "./parse.js";
import { tencentPlatform } from "./platform.js";
import { verifySignature } from "./verify.js";

/** The one callback command imrelay maps; Tencent sends every command to the same URL. */
export const STATE_CHANGE_COMMAND = "State.StateChange";

export interface TencentCallbackOptions {
  /** The imrelay tenant the callback is for; copied onto each event. */
  tenant: string;
  /** The tenant's SDKAppID; the callback's `SdkAppid` must equal it. */
  sdkAppId: string;
  /**
   * The callback token from the Tencent console. When set, `Sign` and
   * `RequestTime` are required and checked; when absent, they are ignored.
   */
  token?: string | undefined;
  /**
   * The clock, in ms: `receivedAt`, and the reference for `RequestTime`.
   * @default Date.now()
   */
  now?: number;
  /**
   * How far `RequestTime` may be from `now`, in seconds.
   * @default 60
   */
  toleranceSec?: number;
}

export type TencentCallbackResult = CallbackResult<TencentAnswer>;

/**
 * Verifies and parses one Tencent Cloud IM callback. Checks, in order: the
 * signature (only when `token` is set), `SdkAppid`, the body. A
 * `State.StateChange` gives one event; any other command, or an Action
 * imrelay does not know, is `unrecognized` with no events. Either way the
 * callback is answered `response` with HTTP 200. A bad callback throws
 * `TencentCallbackError` with `.code`, `.status` and `.response`.
 *
 * @example
 * import { handleCallback, TencentCallbackError } from "@imrelay/tencent-adapter";
 *
 * try {
 *   const out = handleCallback(
 *     { body: rawBody, query },
 *     { tenant: "acme", sdkAppId: "1400000000", token: process.env.TENCENT_TOKEN },
 *   );
 *   await store(out.events);
 *   reply(200, out.response);
 * } catch (err) {
 *   if (err instanceof TencentCallbackError) reply(err.status, err.response);
 *   else throw err;
 * }
 */
export function handleCallback(request: CallbackRequest, options: TencentCallbackOptions): TencentCallbackResult {
  const { tenant, sdkAppId, token, now = Date.now(), toleranceSec = 60 } = options;
  const query = request.query ?? {};

  if (token !== undefined) {
    // An empty token would make Sign sha256(RequestTime): anyone could forge it.
    if (token === "") throw new TypeError("token must be a non-empty string when set");
    verifySignature(query, { token, now, toleranceSec });
  }

  const appId = firstValue(query["SdkAppid"]);
  if (!appId) throw new TencentCallbackError("MALFORMED_QUERY", "SdkAppid is missing from the query");
  if (appId !== String(sdkAppId)) {
    throw new TencentCallbackError("APP_ID_MISMATCH", "SdkAppid is not this tenant's SDKAppID");
  }

  const body = parseBody(request.body);
  const command = stringField(body["CallbackCommand"]) ?? firstValue(query["CallbackCommand"]);
  // Tencent's query values are not promised a case; the names are.
  if (command?.toLowerCase() !== STATE_CHANGE_COMMAND.toLowerCase()) {
    return unrecognized(`command ${command || "(missing)"}`);
  }

  const info = body["Info"];
  if (info === null || typeof info !== "object" || Array.isArray(info)) {
    throw new TencentCallbackError("MALFORMED_BODY", "Info is missing or not an object");
  }
  const fields = info as Record<string, unknown>;
  const userId = userIdOf(fields["To_Account"]);
  if (!userId) throw new TencentCallbackError("MALFORMED_BODY", "Info.To_Account is missing or empty");
  // Authentic but absurd (40,000 characters, a NUL): the reason only, never the value, goes back.
  const problem = userIdProblem(userId);
  if (problem) throw new TencentCallbackError("MALFORMED_BODY", `Info.To_Account ${problem}`);

  const change = mapStateChange(stringField(fields["Action"]), stringField(fields["Reason"]));
  if ("unrecognized" in change) return unrecognized(change.unrecognized);

  const eventTime = vendorTimeMs(body["EventTime"]);
  const event: AdapterEvent = {
    id: eventId({
      tenant,
      provider: "tencent",
      appId,
      // The oldest format has no EventTime: without the arrival time, two Logouts of one user would share an id.
      callback: eventTime === undefined ? { ...body, receivedAt: now } : body,
    }),
    type: change.type,
    tenant,
    provider: "tencent",
    appId,
    userId,
    ...(change.status ? { status: change.status } : {}),
    reason: change.reason,
    platform: tencentPlatform(firstValue(query["OptPlatform"])),
    clientIp: firstValue(query["ClientIP"]) || null,
    connectionId: null,
    background: null,
    kickedPlatforms: kickedPlatforms(body["KickedDevice"]),
    customStatus: stringField(body["CustomStatus"]) ?? stringField(fields["CustomStatus"]) ?? null,
    occurredAt: isoTime(eventTime ?? now),
    receivedAt: isoTime(now),
  };
  return { events: [event], unrecognized: false, response: okAnswer() };
}

function unrecognized(reason: string): TencentCallbackResult {
  return { events: [], unrecognized: true, unrecognizedReason: reason, response: okAnswer() };
}

function stringField(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** Tencent UserIDs are strings, but a number is unambiguous. */
function userIdOf(value: unknown): string | undefined {
  if (typeof value === "string") return value.trim() === "" ? undefined : value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return undefined;
}

function kickedPlatforms(devices: unknown): Platform[] {
  if (!Array.isArray(devices)) return [];
  const platforms: Platform[] = [];
  for (const device of devices) {
    const name = (device as { Platform?: unknown } | null)?.Platform;
    if (typeof name === "string") platforms.push(tencentPlatform(name));
  }
  return platforms;
}
