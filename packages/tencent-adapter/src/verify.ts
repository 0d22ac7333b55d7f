import { timingSafeEqual } from "node:crypto";
import { firstValue } from "@imrelay/core";
import { TencentCallbackError } from "./errors.js";
import { tencentSign } from "./sign.js";

export interface VerifySignatureOptions {
  /** The callback token set in the Tencent console. */
  token: string;
  /**
   * The clock, in ms.
   * @default Date.now()
   */
  now?: number;
  /**
   * How far `RequestTime` may be from `now`, in seconds. Tencent's docs say 60.
   * @default 60
   */
  toleranceSec?: number;
}

/**
 * Checks Tencent's callback authentication: `RequestTime` within the window
 * and `Sign = sha256(token + RequestTime)`. Throws `TencentCallbackError`
 * (SIGNATURE_MISSING, SIGNATURE_EXPIRED, SIGNATURE_MISMATCH; all 401).
 *
 * @example
 * verifySignature(req.query, { token: process.env.TENCENT_TOKEN!, now: Date.now() });
 */
export function verifySignature(
  query: Record<string, unknown> | undefined,
  { token, now = Date.now(), toleranceSec = 60 }: VerifySignatureOptions,
): void {
  const sign = firstValue(query?.["Sign"]);
  const requestTime = firstValue(query?.["RequestTime"]);
  if (!sign || !requestTime) {
    throw new TencentCallbackError("SIGNATURE_MISSING", "Sign and RequestTime are required in the query");
  }
  if (!/^\d{1,12}$/.test(requestTime)) {
    throw new TencentCallbackError("SIGNATURE_MISSING", "RequestTime is not a Unix time in seconds");
  }
  if (Math.abs(now / 1000 - Number(requestTime)) > toleranceSec) {
    throw new TencentCallbackError("SIGNATURE_EXPIRED", `RequestTime is outside the ${toleranceSec} s window`);
  }
  if (!safeEqual(sign.toLowerCase(), expectedSign(token, requestTime))) {
    throw new TencentCallbackError("SIGNATURE_MISMATCH", "Sign does not match");
  }
}

/** Per token, the last `RequestTime` seen and its `Sign`, as bytes. */
const lastSigns = new Map<string, { requestTime: string; sign: Buffer }>();
/** Tokens remembered at most (one per tenant in practice); past it, the memory starts again. */
const LAST_SIGNS_MAX = 256;

/**
 * The `Sign` Tencent computes for this token and time. The callbacks of one second share a
 * `RequestTime`, so a busy gateway hashes it once per second per token rather than per callback.
 */
function expectedSign(token: string, requestTime: string): Buffer {
  const last = lastSigns.get(token);
  if (last?.requestTime === requestTime) return last.sign;
  const sign = Buffer.from(tencentSign(token, requestTime), "utf8");
  if (!last && lastSigns.size >= LAST_SIGNS_MAX) lastSigns.clear();
  lastSigns.set(token, { requestTime, sign });
  return sign;
}

/** timingSafeEqual throws on different lengths, and the length of a hex digest is no secret. */
function safeEqual(given: string, expected: Buffer): boolean {
  const a = Buffer.from(given, "utf8");
  return a.length === expected.length && timingSafeEqual(a, expected);
}
