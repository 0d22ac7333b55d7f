import { createHash, timingSafeEqual } from "node:crypto";
import { AgoraCallbackError } from "./errors.js";
import type { AgoraCallbackBody } from "./parse.js";

/**
 * The callback's `security` field: `lowercase_hex(md5(callId + secret + timestamp))`,
 * a plain concatenation with `timestamp` as its decimal digits (the vendor
 * computes it with Apache `DigestUtils.md5Hex`, hence lower-case). A string
 * `timestamp` is used exactly as given.
 *
 * @example
 * agoraSecurity("61000000#acme_25b54a81-1376-4669-bb3d-178339a8f11b", "s3cr3t-rule", 1642648914742);
 * // "50ec10b4c20074a68eabbd87d64b8983"
 */
export function agoraSecurity(callId: string, secret: string, timestamp: string | number): string {
  return createHash("md5").update(`${callId}${secret}${timestamp}`, "utf8").digest("hex");
}

export interface VerifySecurityOptions {
  /** The callback rule's secret, shown in the console's callback rule list. */
  secret: string;
}

/**
 * Checks the body's `security` against `callId`, `timestamp` and the rule's
 * secret. Throws `AgoraCallbackError`: SIGNATURE_MISSING (401) when `security`,
 * `callId` or a usable `timestamp` is missing, SIGNATURE_MISMATCH (401) when
 * `security` does not match. Hex is compared case-insensitively, in constant
 * time. The vendor documents no freshness window, so the age of `timestamp`
 * is never a reason to refuse.
 *
 * Only `callId` and `timestamp` are signed: the rest of the body is not
 * covered by `security`.
 *
 * @example
 * verifySecurity(parseBody(rawBody), { secret: process.env.AGORA_CALLBACK_SECRET! });
 */
export function verifySecurity(body: AgoraCallbackBody, { secret }: VerifySecurityOptions): void {
  const { security, callId } = body;
  if (security === undefined || security === null || security === "") {
    throw new AgoraCallbackError("SIGNATURE_MISSING", "security is missing from the body");
  }
  if (typeof security !== "string") throw new AgoraCallbackError("SIGNATURE_MISSING", "security is not a string");
  if (typeof callId !== "string" || callId === "") {
    throw new AgoraCallbackError("SIGNATURE_MISSING", "callId, which security signs, is missing or not a string");
  }
  const timestamp = timestampDigits(body.timestamp);
  if (timestamp === undefined) {
    throw new AgoraCallbackError(
      "SIGNATURE_MISSING",
      "timestamp, which security signs, is missing or not a whole number of milliseconds",
    );
  }
  if (!safeEqual(security.toLowerCase(), agoraSecurity(callId, secret, timestamp))) {
    throw new AgoraCallbackError("SIGNATURE_MISMATCH", "security does not match");
  }
}

/**
 * The decimal digits the vendor put into the hash: a JSON number as Java
 * prints a `long`, a string as it is. Anything else cannot have been signed.
 */
function timestampDigits(value: unknown): string | undefined {
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 0 ? String(value) : undefined;
  if (typeof value === "string") return /^\d{1,20}$/.test(value) ? value : undefined;
  return undefined;
}

/** timingSafeEqual throws on different lengths, and the length of an MD5 hex digest is no secret. */
function safeEqual(given: string, expected: string): boolean {
  if (given.length !== expected.length) return false;
  const a = Buffer.from(given, "utf8");
  const b = Buffer.from(expected, "utf8");
  return a.length === b.length && timingSafeEqual(a, b);
}
