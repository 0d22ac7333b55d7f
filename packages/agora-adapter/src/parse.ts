import { bodyText, MAX_JSON_DEPTH, nestedDeeperThan } from "@imrelay/core";
import { AgoraCallbackError } from "./errors.js";

/**
 * An Agora Chat / Easemob callback body: one flat JSON object. Login and
 * logout callbacks carry the fields below; message callbacks sent to the same
 * URL carry `eventType`, `chat_type`, `msg_id`, `payload` and no `reason`.
 * Unknown fields will come and are ignored.
 */
export interface AgoraCallbackBody {
  callId?: unknown;
  reason?: unknown;
  status?: unknown;
  security?: unknown;
  os?: unknown;
  ip?: unknown;
  appkey?: unknown;
  user?: unknown;
  timestamp?: unknown;
  eventType?: unknown;
  [key: string]: unknown;
}

/**
 * Parses the raw body as one JSON object. Throws `AgoraCallbackError`
 * MALFORMED_BODY (400) saying what is wrong, never quoting the body.
 *
 * @example
 * parseBody('{"callId":"61000000#acme_25b5…","reason":"login",…}').reason; // "login"
 */
export function parseBody(body: string | Uint8Array): AgoraCallbackBody {
  // A BOM is not JSON, but some proxies add one; it says nothing about the callback.
  const text = bodyText(body)
    .replace(/^\uFEFF/, "")
    .trim();
  if (text === "") throw new AgoraCallbackError("MALFORMED_BODY", "body is empty; expected a JSON object");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AgoraCallbackError("MALFORMED_BODY", "body is not valid JSON");
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    const kind = value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`;
    throw new AgoraCallbackError("MALFORMED_BODY", `body is ${kind}; expected a JSON object`);
  }
  if (nestedDeeperThan(value)) {
    throw new AgoraCallbackError("MALFORMED_BODY", `body nests deeper than ${MAX_JSON_DEPTH} levels`);
  }
  return value as AgoraCallbackBody;
}
