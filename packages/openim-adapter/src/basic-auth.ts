import { createHash, timingSafeEqual } from "node:crypto";
import { headerValue } from "@imrelay/core";
import { OpenImCallbackError } from "./errors.js";

/** Credentials OpenIM sends when its `webhooks.yml` url is `http://user:pass@host/...`. */
export interface BasicAuthCredentials {
  username: string;
  password: string;
}

/**
 * Checks the `Authorization: Basic` header against the configured credentials.
 * OpenIM has no signature of its own; Go's HTTP client turns credentials in
 * the URL into this header, so this is the one secret it can carry.
 *
 * @example
 * verifyBasicAuth(request.headers, { username: "openim", password: process.env.OPENIM_PASSWORD! });
 */
export function verifyBasicAuth(headers: Record<string, unknown> | undefined, expected: BasicAuthCredentials): void {
  const header = headerValue(headers, "authorization")?.trim();
  const match = header ? /^basic\s+(\S*)$/i.exec(header) : null;
  if (!match) throw new OpenImCallbackError("CREDENTIALS_MISSING", "Basic auth credentials are missing");

  const decoded = Buffer.from(match[1] ?? "", "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  // A malformed header still goes through both compares, so timing says nothing about it.
  const username = colon === -1 ? decoded : decoded.slice(0, colon);
  const password = colon === -1 ? "" : decoded.slice(colon + 1);

  const usernameOk = safeEqual(username, expected.username);
  const passwordOk = safeEqual(password, expected.password);
  // Bitwise AND, not &&: both compares always run, so the time taken does not say which part was wrong.
  if (((usernameOk ? 1 : 0) & (passwordOk ? 1 : 0) & (colon === -1 ? 0 : 1)) !== 1) {
    throw new OpenImCallbackError("CREDENTIALS_INVALID", "Basic auth credentials do not match");
  }
}

// Hashing first gives equal-length inputs, so timingSafeEqual needs no length check that would leak the length.
function safeEqual(actual: string, expected: string): boolean {
  return timingSafeEqual(sha256(actual), sha256(expected));
}

function sha256(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}
