import { createHash } from "node:crypto";

/**
 * The `MD5` header NetEase sends: lower-case hex MD5 of the body bytes exactly
 * as sent (a string is taken as UTF-8), never of re-serialized JSON.
 *
 * @example
 * neteaseMd5("{}"); // "99914b932bd37a50b983c5e7c90ae93b"
 */
export function neteaseMd5(body: string | Uint8Array): string {
  return createHash("md5").update(body).digest("hex");
}

/**
 * NetEase's `CheckSum`: `lowercase_hex(sha1(AppSecret + MD5 + CurTime))`, a
 * plain concatenation of the three strings, not an HMAC. `md5` and `curTime`
 * are used exactly as sent in the headers.
 *
 * @example
 * neteaseCheckSum("c8c1d3e5a7f9", "99914b932bd37a50b983c5e7c90ae93b", "1608877682500");
 * // "5ca21e627badc2ce16ce72d1f218dbfa1f441957"
 */
export function neteaseCheckSum(appSecret: string, md5: string, curTime: string | number): string {
  return createHash("sha1").update(`${appSecret}${md5}${curTime}`, "utf8").digest("hex");
}
