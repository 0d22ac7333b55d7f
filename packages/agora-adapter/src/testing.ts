import { randomUUID } from "node:crypto";
import { agoraSecurity } from "./verify.js";

export interface SignAgoraBodyInput {
  /** The callback rule's secret. Without it, no `security` is added. */
  secret?: string | undefined;
  /** The app's appkey, `org#app`; the body's `appkey` and the prefix of `user` and `callId`. */
  appKey: string;
  /** The app's user id. */
  userId: string;
  /**
   * `login`, `logout`, `replaced`, or any other value.
   * @default "login"
   */
  reason?: string;
  /**
   * `online` or `offline`.
   * @default "online" for login, else "offline"
   */
  status?: string;
  /**
   * The device type; also the resource's first part.
   * @default "ios"
   */
  os?: string;
  /**
   * The device part of the resource, `{os}_{deviceId}`. A login and a logout
   * built with the same one are the same device.
   * @default "6d580737-db3a-d2b5-da18-b6045ffd195b"
   */
  deviceId?: string;
  /**
   * The whole `user` field, to test another shape.
   * @default "{appKey}_{userId}@easemob.com/{os}_{deviceId}", as the vendor's sample has it
   */
  user?: string;
  /**
   * When the login or logout reached the server, in ms; a string is signed as it is.
   * @default Date.now()
   */
  timestamp?: number | string;
  /**
   * One per callback, `{appKey}_{uuid}`.
   * @default a fresh one
   */
  callId?: string;
  /**
   * The client's `IP:port`.
   * @default "127.0.0.1:52709"
   */
  ip?: string;
}

/**
 * Builds the raw body of a user login/logout callback, with the fields in the
 * order Agora Chat and Easemob send them and `security` computed as they
 * compute it, so a handler can be tested with bodies that pass verification.
 *
 * @example
 * const body = signAgoraBody({ secret: "test-secret", appKey: "61000000#acme", userId: "alice", reason: "logout" });
 * await fetch("http://127.0.0.1:8080/agora", { method: "POST", headers: { "content-type": "application/json" }, body });
 */
export function signAgoraBody(input: SignAgoraBodyInput): string {
  const reason = input.reason ?? "login";
  const os = input.os ?? "ios";
  const deviceId = input.deviceId ?? "6d580737-db3a-d2b5-da18-b6045ffd195b";
  const timestamp = input.timestamp ?? Date.now();
  const callId = input.callId ?? `${input.appKey}_${randomUUID()}`;
  const body: Record<string, unknown> = { callId, reason };
  if (input.secret !== undefined) body["security"] = agoraSecurity(callId, input.secret, timestamp);
  body["os"] = os;
  body["ip"] = input.ip ?? "127.0.0.1:52709";
  body["appkey"] = input.appKey;
  body["user"] = input.user ?? `${input.appKey}_${input.userId}@easemob.com/${os}_${deviceId}`;
  body["timestamp"] = timestamp;
  body["status"] = input.status ?? (reason === "login" ? "online" : "offline");
  return JSON.stringify(body);
}
