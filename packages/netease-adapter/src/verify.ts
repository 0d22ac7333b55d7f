import { timingSafeEqual } from "node:crypto";
import { headerValue } from "@imrelay/core";
import { neteaseCheckSum, neteaseMd5 } from "./checksum.js";
import { NeteaseCallbackError } from "./errors.js";

/** What the checksum covers: the raw body and the headers NetEase signs it with. */
export interface SignedCopy {
  /** The body exactly as received. */
  body: string | Uint8Array;
  /** The request headers; names are matched case-insensitively. */
  headers?: Record<string, unknown> | undefined;
}

/**
 * Checks NetEase's copy authentication: `MD5`, `CheckSum` and `CurTime` are
 * required, `CheckSum` must be `sha1(appSecret + MD5 + CurTime)` and `MD5`
 * the MD5 of the raw body. Hex is compared case-insensitively and in
 * constant time. NetEase documents no freshness window and may re-send a copy
 * later, so the age of `CurTime` is never checked. Throws
 * `NeteaseCallbackError` SIGNATURE_MISSING or SIGNATURE_MISMATCH (both 401).
 *
 * @example
 * verifyCheckSum({ body: rawBody, headers: req.headers }, process.env.NETEASE_APP_SECRET!);
 */
export function verifyCheckSum({ body, headers }: SignedCopy, appSecret: string): void {
  const md5 = headerValue(headers, "MD5");
  const checkSum = headerValue(headers, "CheckSum");
  const curTime = headerValue(headers, "CurTime");
  if (!md5 || !checkSum || !curTime) {
    throw new NeteaseCallbackError("SIGNATURE_MISSING", "MD5, CheckSum and CurTime headers are required");
  }
  // CheckSum first: it vouches for MD5 and CurTime; then MD5 vouches for the body.
  if (!safeEqualHex(checkSum, neteaseCheckSum(appSecret, md5, curTime))) {
    throw new NeteaseCallbackError("SIGNATURE_MISMATCH", "CheckSum does not match");
  }
  if (!safeEqualHex(md5, neteaseMd5(body))) {
    throw new NeteaseCallbackError("SIGNATURE_MISMATCH", "MD5 is not the MD5 of the body");
  }
}

/**
 * Checks the `AppKey` header against the tenant's AppKey. NetEase's login and
 * logout examples omit the header, so an absent (or empty) one is accepted; a different
 * one is another app's copy (403 APP_ID_MISMATCH).
 *
 * @example
 * verifyAppKey(req.headers, "0123456789abcdef0123456789abcdef");
 */
export function verifyAppKey(headers: Record<string, unknown> | undefined, appKey: string): void {
  const sent = headerValue(headers, "AppKey");
  if (sent && sent !== appKey) {
    throw new NeteaseCallbackError("APP_ID_MISMATCH", "AppKey is not this tenant's AppKey");
  }
}

/** timingSafeEqual throws on different lengths, and the length of a hex digest is no secret. */
function safeEqualHex(given: string, expected: string): boolean {
  const a = Buffer.from(given.toLowerCase(), "utf8");
  const b = Buffer.from(expected, "utf8");
  return a.length === b.length && timingSafeEqual(a, b);
}
