import { bodyText, MAX_JSON_DEPTH, nestedDeeperThan } from "@imrelay/core";
import { TencentCallbackError } from "./errors.js";

/** A Tencent callback body: a JSON object, whatever fields it has. */
export type TencentCallbackBody = Record<string, unknown>;

/**
 * Parses the raw body into a JSON object. Throws `TencentCallbackError`
 * MALFORMED_BODY (400) saying what is wrong, never quoting the body.
 *
 * @example
 * parseBody('{"CallbackCommand":"State.StateChange","Info":{…}}'); // { CallbackCommand: "State.StateChange", Info: {…} }
 */
export function parseBody(body: string | Uint8Array): TencentCallbackBody {
  // A BOM is not JSON, but some proxies add one; it says nothing about the callback.
  const text = bodyText(body).replace(/^\uFEFF/, "");
  if (text.trim() === "") throw new TencentCallbackError("MALFORMED_BODY", "body is empty");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TencentCallbackError("MALFORMED_BODY", "body is not JSON");
  }
  if (Array.isArray(value)) throw new TencentCallbackError("MALFORMED_BODY", "body is a JSON array, not an object");
  if (value === null || typeof value !== "object") {
    throw new TencentCallbackError(
      "MALFORMED_BODY",
      `body is a JSON ${value === null ? "null" : typeof value}, not an object`,
    );
  }
  if (nestedDeeperThan(value)) {
    throw new TencentCallbackError("MALFORMED_BODY", `body nests deeper than ${MAX_JSON_DEPTH} levels`);
  }
  return value as TencentCallbackBody;
}
