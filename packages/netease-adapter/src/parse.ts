import { bodyText, MAX_JSON_DEPTH, nestedDeeperThan } from "@imrelay/core";
import { NeteaseCallbackError } from "./errors.js";

/**
 * A NetEase copy body. Login and logout copies carry the fields below; every
 * other copy the app switched on (messages, chat rooms, …) arrives at the same
 * URL with other fields, and unknown fields will come.
 */
export interface NeteaseBody {
  /** `2` login, `3` logout; any other value is another kind of copy. String or number. */
  eventType?: unknown;
  /** The user id. */
  accid?: unknown;
  /** `AOS`, `IOS`, `PC`, `WEB`, `REST`, `MAC`, `HARMONY`, or their numeric codes. */
  clientType?: unknown;
  /** The device; on login, and sometimes on logout. */
  deviceId?: unknown;
  /** Always on login; not guaranteed on logout. */
  clientIp?: unknown;
  /** When the login or logout happened, Unix ms. String or number. */
  timestamp?: unknown;
  /** The login's result; 200 is success. String or number. */
  code?: unknown;
  /** Logout only: 1 logged out, 2 connection lost, 3 or 4 kicked. String or number. */
  logOutReason?: unknown;
  [key: string]: unknown;
}

/**
 * Parses the raw body as one JSON object. An empty body (the console's URL
 * probe, by one vendor page's account) reads as `{}`. Surrounding whitespace
 * and a UTF-8 byte order mark are accepted. Throws `NeteaseCallbackError`
 * MALFORMED_BODY (400) saying what is wrong, never quoting the body.
 *
 * @example
 * parseBody('{"eventType":"2","accid":"t3"}'); // { eventType: "2", accid: "t3" }
 * parseBody("");                              // {}
 */
export function parseBody(body: string | Uint8Array): NeteaseBody {
  const text = bodyText(body)
    .replace(/^\uFEFF/, "")
    .trim();
  if (text === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new NeteaseCallbackError("MALFORMED_BODY", "body is not JSON");
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    const kind = parsed === null ? "null" : Array.isArray(parsed) ? "an array" : `a ${typeof parsed}`;
    throw new NeteaseCallbackError("MALFORMED_BODY", `body is JSON ${kind}, not an object`);
  }
  if (nestedDeeperThan(parsed)) {
    throw new NeteaseCallbackError("MALFORMED_BODY", `body nests deeper than ${MAX_JSON_DEPTH} levels`);
  }
  return parsed as NeteaseBody;
}

/**
 * A scalar field as text: NetEase's own examples send the same field as a
 * string in one place and a number in another (`"code":"200"`, `"code":200`),
 * so both read the same. Anything else (absent, object, boolean) is undefined.
 *
 * @example
 * fieldText(" 3 "); // "3"
 * fieldText(3);     // "3"
 * fieldText(null);  // undefined
 */
export function fieldText(value: unknown): string | undefined {
  if (typeof value === "string") {
    const trimmed = value.trim();
    return trimmed === "" ? undefined : trimmed;
  }
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return undefined;
}
