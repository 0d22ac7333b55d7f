import {
  type AdapterEvent,
  type CallbackRequest,
  type CallbackResult,
  eventId,
  headerValue,
  isoTime,
  userIdProblem,
  vendorTimeMs,
} from "@imrelay/core";
import { type OpenImAnswer, okAnswer } from "./answer.js";
import { type BasicAuthCredentials, verifyBasicAuth } from "./basic-auth.js";
import { commandMapping, resolveCommand } from "./command.js";
import { OpenImCallbackError } from "./errors.js";
import { type OpenImBody, parseBody } from "./parse-body.js";
import { openimPlatform } from "./platform.js";

/** The raw OpenIM request, as any HTTP framework has it. */
export interface OpenImCallbackRequest extends CallbackRequest {
  /**
   * The request path (query string allowed). OpenIM v3.8 POSTs to
   * `{configured url}/{command}`, so the command is its last segment.
   */
  path?: string;
}

/** Who the callback is for, and how it is authenticated. */
export interface OpenImCallbackOptions {
  /** The imrelay tenant the callback belongs to. */
  tenant: string;
  /** The tenant's OpenIM app id (OpenIM sends none), copied to each event's `appId`. */
  appId: string;
  /**
   * When set, `Authorization: Basic` must carry these credentials. Put them
   * in OpenIM's `webhooks.yml` url as `http://user:pass@host/...`.
   * @default undefined (no credentials are checked)
   */
  basicAuth?: BasicAuthCredentials;
  /**
   * When the callback was received, in ms since the epoch.
   * @default Date.now()
   */
  now?: number;
}

/** What `handleCallback` returns for an accepted callback. */
export interface OpenImCallbackResult extends CallbackResult<OpenImAnswer> {
  /** OpenIM's `operationID` (header, else body), for correlating logs with OpenIM's. */
  operationId?: string;
}

/**
 * Authenticates and parses one OpenIM user online / offline / kick-off
 * webhook into imrelay events. Pure: no I/O, no framework.
 *
 * Throws `OpenImCallbackError` (`code`, `status`, `response`) for a callback
 * that must be refused. An authentic callback with a command imrelay does not
 * map is not an error: it returns `unrecognized: true` and no events.
 *
 * @example
 * const out = handleCallback(
 *   { body: rawBody, query: req.query, headers: req.headers, path: "/openim/callbackAfterUserOnlineCommand" },
 *   { tenant: "acme", appId: "acme-openim", basicAuth: { username: "openim", password: process.env.OPENIM_PASSWORD! } },
 * );
 * out.events[0]?.type; // "user.online"
 * res.status(200).json(out.response);
 */
export function handleCallback(request: OpenImCallbackRequest, options: OpenImCallbackOptions): OpenImCallbackResult {
  const { tenant, appId, basicAuth, now = Date.now() } = options;
  if (basicAuth) verifyBasicAuth(request.headers, basicAuth);

  const body = parseBody(request.body);
  const operationId = readOperationId(request.headers, body);
  const command = resolveCommand({ path: request.path, query: request.query, body });
  const mapping = commandMapping(command.name);
  if (!mapping) {
    return {
      events: [],
      unrecognized: true,
      unrecognizedReason: `command ${command.name ?? "(none)"}`,
      response: okAnswer(),
      ...(operationId === undefined ? {} : { operationId }),
    };
  }

  const userId = body.userID;
  if (typeof userId !== "string" || userId.trim() === "") {
    throw new OpenImCallbackError(
      "MALFORMED_BODY",
      userId === undefined || userId === "" ? "userID is missing" : "userID is not a non-empty string",
    );
  }
  // Authentic but absurd (40,000 characters, a NUL): the reason only, never the value, goes back.
  const problem = userIdProblem(userId);
  if (problem) throw new OpenImCallbackError("MALFORMED_BODY", `userID ${problem}`);

  const seqMs = vendorTimeMs(body.seq);
  const receivedAt = isoTime(now);
  // Without a usable seq (the old format's seq is a counter) two callbacks can have equal bodies: the
  // operationID (the same on a re-send) tells them apart, else, as a last resort, the arrival time.
  const callback =
    seqMs !== undefined
      ? { command: mapping.command, body }
      : operationId !== undefined
        ? { command: mapping.command, body, operationId }
        : { command: mapping.command, body, receivedAt: now };

  const event: AdapterEvent = {
    id: eventId({ tenant, provider: "openim", appId, callback }),
    type: mapping.type,
    tenant,
    provider: "openim",
    appId,
    userId,
    status: mapping.status,
    reason: mapping.reason,
    platform: openimPlatform(body.platformID, body.platform),
    clientIp: null,
    connectionId: typeof body.connID === "string" && body.connID !== "" ? body.connID : null,
    background: typeof body.isAppBackground === "boolean" ? body.isAppBackground : null,
    kickedPlatforms: [],
    customStatus: null,
    occurredAt: seqMs === undefined ? receivedAt : isoTime(seqMs),
    receivedAt,
  };

  return {
    events: [event],
    unrecognized: false,
    response: okAnswer(),
    ...(operationId === undefined ? {} : { operationId }),
  };
}

function readOperationId(headers: Record<string, unknown> | undefined, body: OpenImBody): string | undefined {
  const fromHeader = headerValue(headers, "operationID");
  if (fromHeader) return fromHeader;
  return typeof body.operationID === "string" && body.operationID !== "" ? body.operationID : undefined;
}
