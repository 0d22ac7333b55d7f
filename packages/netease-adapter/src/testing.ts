import { neteaseCheckSum, neteaseMd5 } from "./checksum.js";

export interface NeteaseRequestInput {
  /**
   * The body to send: a string byte for byte, an object as compact JSON.
   * When given, the copy fields below are not used.
   * @default a login or logout copy built from the fields below
   */
  body?: string | Record<string, unknown>;
  /**
   * `eventType`: 2 login, 3 logout, or any other kind of copy.
   * @default "2"
   */
  eventType?: string | number;
  /** `accid`, the user id. @default "u1" */
  accid?: string;
  /** `clientType`. @default "AOS" */
  clientType?: string | number;
  /** `deviceId`. @default a fixed UUID on login, absent on logout */
  deviceId?: string;
  /** `clientIp`. @default "127.0.0.1" on login, absent on logout */
  clientIp?: string;
  /** `code`, the login's result. @default "200" */
  code?: string | number;
  /** `logOutReason`: 1 logged out, 2 connection lost, 3 or 4 kicked. @default absent */
  logOutReason?: string | number;
  /** `timestamp`, when the login or logout happened, Unix ms. @default now */
  timestamp?: string | number;
  /** Sent as the `AppKey` header when given. */
  appKey?: string;
  /** When given, the `MD5`, `CurTime` and `CheckSum` headers are added, signed with it. */
  appSecret?: string;
  /**
   * The clock, in ms: `CurTime`, and the default `timestamp`.
   * @default Date.now()
   */
  now?: number;
}

/** A request shaped like a NetEase copy; fits `handleCallback` and `fetch` as is. */
export interface NeteaseTestRequest {
  /** The body, exactly the bytes `MD5` covers. */
  body: string;
  /** `Content-Type`, and `AppKey`, `CurTime`, `MD5`, `CheckSum` as asked for. */
  headers: Record<string, string>;
}

/**
 * Builds a copy (抄送) shaped like the ones NetEase sends, signed like NetEase
 * signs them, so code that receives them can be tested. The built body
 * writes every value as a string, as the vendor's example does.
 *
 * @example
 * const req = neteaseRequest({ accid: "u1", clientType: "IOS", appKey, appSecret: "test-secret" });
 * handleCallback(req, { tenant: "acme", appKey, appSecret: "test-secret" }).events[0]?.platform; // "ios"
 * await fetch("http://127.0.0.1:3000/netease", { method: "POST", headers: req.headers, body: req.body });
 *
 * neteaseRequest({ body: "{}", appSecret: "test-secret" }); // the console's URL probe
 */
export function neteaseRequest(input: NeteaseRequestInput = {}): NeteaseTestRequest {
  const now = input.now ?? Date.now();
  const body = typeof input.body === "string" ? input.body : JSON.stringify(input.body ?? copyBody(input, now));

  const headers: Record<string, string> = { "Content-Type": "application/json;charset=utf-8" };
  if (input.appKey !== undefined) headers["AppKey"] = input.appKey;
  if (input.appSecret !== undefined) {
    const md5 = neteaseMd5(body);
    const curTime = String(now);
    headers["CurTime"] = curTime;
    headers["MD5"] = md5;
    headers["CheckSum"] = neteaseCheckSum(input.appSecret, md5, curTime);
  }
  return { body, headers };
}

/** Field order and string values as in the vendor's login example, so the body reads like a captured one. */
function copyBody(input: NeteaseRequestInput, now: number): Record<string, string> {
  const eventType = String(input.eventType ?? "2");
  const login = eventType === "2";
  const body: Record<string, string> = {
    eventType,
    accid: input.accid ?? "u1",
    clientType: String(input.clientType ?? "AOS"),
    code: String(input.code ?? "200"),
  };
  const clientIp = input.clientIp ?? (login ? "127.0.0.1" : undefined);
  if (clientIp !== undefined) body["clientIp"] = clientIp;
  const deviceId = input.deviceId ?? (login ? "6d580737-db3a-4b5a-9a18-b6045ffd195b" : undefined);
  if (deviceId !== undefined) body["deviceId"] = deviceId;
  if (input.logOutReason !== undefined) body["logOutReason"] = String(input.logOutReason);
  body["timestamp"] = String(input.timestamp ?? now);
  return body;
}
