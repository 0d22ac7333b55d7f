import { sha256 } from "@imrelay/core";

/**
 * Tencent's callback `Sign`: `lowercase_hex(sha256(token + RequestTime))`, a
 * plain concatenation, not an HMAC. `requestTime` is used exactly as sent.
 *
 * @example
 * tencentSign("xxxxyyyy", "1669872112");
 * // "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"
 */
export function tencentSign(token: string, requestTime: string | number): string {
  return sha256(`${token}${requestTime}`, "hex");
}

export interface SignTencentQueryInput {
  /** The callback token set in the Tencent console. Without it, no `Sign` or `RequestTime` is added. */
  token?: string | undefined;
  /** The app's SDKAppID. */
  sdkAppId: string;
  /**
   * The clock, in ms; `RequestTime` is its Unix second.
   * @default Date.now()
   */
  now?: number;
  /** @default "State.StateChange" */
  callbackCommand?: string;
  /** @default "127.0.0.1" */
  clientIp?: string;
  /** Tencent sends upper-case `IOS` on State.StateChange. @default "IOS" */
  optPlatform?: string;
}

/**
 * Builds the query Tencent appends to a callback URL, signed like Tencent
 * signs it, so a handler can be tested with requests that pass verification.
 *
 * @example
 * const query = signTencentQuery({ token: "xxxxyyyy", sdkAppId: "1400000000", now: Date.now() });
 * await fetch(`http://127.0.0.1:8080/tencent?${new URLSearchParams(query)}`, { method: "POST", body });
 */
export function signTencentQuery({
  token,
  sdkAppId,
  now = Date.now(),
  callbackCommand = "State.StateChange",
  clientIp = "127.0.0.1",
  optPlatform = "IOS",
}: SignTencentQueryInput): Record<string, string> {
  const query: Record<string, string> = {
    SdkAppid: sdkAppId,
    CallbackCommand: callbackCommand,
    contenttype: "json",
    ClientIP: clientIp,
    OptPlatform: optPlatform,
  };
  if (token !== undefined) {
    const requestTime = String(Math.floor(now / 1000));
    query["RequestTime"] = requestTime;
    query["Sign"] = tencentSign(token, requestTime);
  }
  return query;
}
