import {
  type AdapterEvent,
  type CallbackRequest,
  type CallbackResult,
  eventId,
  isoTime,
  vendorTimeMs,
} from "@imrelay/core";
import { type AgoraAnswer, okAnswer } from "./answer.js";
import { AgoraCallbackError } from "./errors.js";
import { clientIpOf } from "./ip.js";
import { mapLoginEvent } from "./mapping.js";
import { type AgoraCallbackBody, parseBody } from "./parse.js";
import { agoraPlatform } from "./platform.js";
import { parseUser } from "./user.js";
import { verifySecurity } from "./verify.js";

export interface AgoraCallbackOptions {
  /** The imrelay tenant the callback is for; copied onto each event. */
  tenant: string;
  /**
   * The app's appkey, `org#app` (e.g. `61000000#acme`). The body's `appkey`,
   * when present, must equal it; it also strips the `{appkey}_` prefix of `user`.
   */
  appKey: string;
  /**
   * The callback rule's secret, from the console's callback rule list. When
   * set, the body's `security` is required and checked; when absent, it is
   * ignored.
   */
  secret?: string | undefined;
  /**
   * The clock, in ms: `receivedAt`, and `occurredAt` when the body has no `timestamp`.
   * @default Date.now()
   */
  now?: number;
}

export type AgoraCallbackResult = CallbackResult<AgoraAnswer>;

/**
 * Verifies and parses one Agora Chat or Easemob (环信) callback. Checks, in
 * order: the body (a JSON object), `security` (only when `secret` is set),
 * `appkey`, then, for a login/logout, `user`. A `login`, `logout` or
 * `replaced` gives one event; a message callback (no `reason`) or an unknown
 * reason without a usable `status` is `unrecognized` with no events. Either
 * way the callback is answered `response` with HTTP 200. A bad callback
 * throws `AgoraCallbackError` with `.code`, `.status` and `.response`.
 *
 * @example
 * import { AgoraCallbackError, handleCallback } from "@imrelay/agora-adapter";
 *
 * try {
 *   const out = handleCallback(
 *     { body: rawBody, query, headers },
 *     { tenant: "acme", appKey: "61000000#acme", secret: process.env.AGORA_CALLBACK_SECRET },
 *   );
 *   await store(out.events);
 *   reply(200, out.response); // {"status":"ok"}
 * } catch (err) {
 *   if (err instanceof AgoraCallbackError) reply(err.status, err.response);
 *   else throw err;
 * }
 */
export function handleCallback(request: CallbackRequest, options: AgoraCallbackOptions): AgoraCallbackResult {
  const { tenant, appKey, secret, now = Date.now() } = options;
  if (typeof appKey !== "string" || appKey === "") throw new TypeError("appKey must be a non-empty string");
  // An empty secret would make security md5(callId + timestamp): anyone could forge it.
  if (secret !== undefined && (typeof secret !== "string" || secret === "")) {
    throw new TypeError("secret must be a non-empty string when set");
  }

  const body = parseBody(request.body);
  if (secret !== undefined) verifySecurity(body, { secret });
  const appId = appIdOf(body, appKey);

  const change = mapLoginEvent(body.reason, body.status, body.eventType);
  if ("unrecognized" in change) {
    return { events: [], unrecognized: true, unrecognizedReason: change.unrecognized, response: okAnswer() };
  }

  const { userId, resource } = parseUser(body.user, appId);
  const occurredMs = vendorTimeMs(body.timestamp);
  const event: AdapterEvent = {
    id: eventId({ tenant, provider: "agora", appId, callback: idSource(body, occurredMs, now) }),
    type: change.type,
    tenant,
    provider: "agora",
    appId,
    userId,
    status: change.status,
    reason: change.reason,
    platform: agoraPlatform(body.os, resource),
    clientIp: clientIpOf(body.ip),
    connectionId: resource,
    background: null,
    kickedPlatforms: [],
    customStatus: null,
    occurredAt: isoTime(occurredMs ?? now),
    receivedAt: isoTime(now),
  };
  return { events: [event], unrecognized: false, response: okAnswer() };
}

/** The body's `appkey` when present (it must be the tenant's), else the configured one. */
function appIdOf(body: AgoraCallbackBody, appKey: string): string {
  const { appkey } = body;
  if (appkey === undefined || appkey === null) return appKey;
  if (appkey !== appKey) throw new AgoraCallbackError("APP_ID_MISMATCH", "appkey is not this tenant's appKey");
  return appKey;
}

/**
 * What identifies a login or logout: not `callId` or `security`, which a
 * resend may change, but who, which device, what and when. The timestamp is
 * taken as a number, so `1642648914742` and `"1642648914742"` agree; without
 * one, the arrival time keeps two logouts of one device apart.
 */
function idSource(body: AgoraCallbackBody, occurredMs: number | undefined, now: number): Record<string, unknown> {
  const timestamp = occurredMs ?? numeric(body.timestamp);
  return {
    user: body.user,
    reason: lower(body.reason),
    status: lower(body.status),
    ...(timestamp === undefined ? { receivedAt: now } : { timestamp }),
  };
}

/** A timestamp that is a number, but not a plausible one in ms, still identifies the callback. */
function numeric(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
  return typeof value === "string" && /^\d{1,20}$/.test(value) ? Number(value) : undefined;
}

function lower(value: unknown): unknown {
  return typeof value === "string" ? value.trim().toLowerCase() : value;
}
