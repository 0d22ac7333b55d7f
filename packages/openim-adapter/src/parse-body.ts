import { bodyText, MAX_JSON_DEPTH, nestedDeeperThan } from "@imrelay/core";
import { OpenImCallbackError } from "./errors.js";

/**
 * The parsed OpenIM body. v3.8 sends every field below; the older format in
 * OpenIM's docs sends only `userID`, `callbackCommand`, `seq` and `connID`.
 */
export interface OpenImBody {
  callbackCommand?: unknown;
  operationID?: unknown;
  platformID?: unknown;
  platform?: unknown;
  userID?: unknown;
  seq?: unknown;
  isAppBackground?: unknown;
  connID?: unknown;
  [key: string]: unknown;
}

/**
 * Parses the raw body as one JSON object. OpenIM ends the body with a newline,
 * so surrounding whitespace (and a UTF-8 byte order mark) is accepted.
 *
 * @example
 * parseBody('{"userID":"u1","callbackCommand":"callbackAfterUserOnlineCommand"}\n').userID // "u1"
 */
export function parseBody(body: string | Uint8Array): OpenImBody {
  const text = bodyText(body)
    .replace(/^\uFEFF/, "")
    .trim();
  if (text === "") throw new OpenImCallbackError("MALFORMED_BODY", "body is empty; expected a JSON object");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new OpenImCallbackError("MALFORMED_BODY", "body is not valid JSON");
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    const kind = parsed === null ? "null" : Array.isArray(parsed) ? "an array" : `a ${typeof parsed}`;
    throw new OpenImCallbackError("MALFORMED_BODY", `body is ${kind}; expected a JSON object`);
  }
  if (nestedDeeperThan(parsed)) {
    throw new OpenImCallbackError("MALFORMED_BODY", `body nests deeper than ${MAX_JSON_DEPTH} levels`);
  }
  return parsed as OpenImBody;
}
