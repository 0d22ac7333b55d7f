import { createHash } from "node:crypto";

/** What every bench run sends as: one tenant, one Tencent app, callback signing on. */
export const TENANT = "bench";
export const SDK_APP_ID = "1400000000";
export const TOKEN = "bench-callback-token";
/** The bench gateway's admin token, for the batch presence queries. */
export const ADMIN_TOKEN = "bench-admin-token-0123456789";
/** Users per batch presence query: the route's maximum. */
export const PRESENCE_BATCH = 1000;
export const OK_BODY = '{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}';

/** `Sign = hex(sha256(token + RequestTime))`; RequestTime is Unix seconds and must be within 60 s of the server's clock. */
export function signer(token = TOKEN) {
  let second = 0;
  let sign = "";
  return function current() {
    const now = Math.floor(Date.now() / 1000);
    if (now !== second) {
      second = now;
      sign = createHash("sha256")
        .update(token + now)
        .digest("hex");
    }
    return { requestTime: second, sign };
  };
}

/**
 * A factory of distinct Tencent `State.StateChange` callbacks (TimeOut
 * unless `action`/`reason` say otherwise: `Login`/`Register` seeds online
 * users). Each has its own user (`<tag>-u<i>`) and EventTime, because
 * identical bodies collapse into one event (deterministic ids): a bench that
 * repeated a body would measure dedupe.
 */
export function callbacks({
  tag,
  tenant = TENANT,
  sdkAppId = SDK_APP_ID,
  token = TOKEN,
  action = "Disconnect",
  reason = "TimeOut",
}) {
  const sign = signer(token);
  const base = Date.now();
  let n = 0;
  return {
    get count() {
      return n;
    },
    next() {
      const i = n++;
      const { requestTime, sign: s } = sign();
      const path =
        `/v1/tenants/${tenant}/tencent?SdkAppid=${sdkAppId}&CallbackCommand=State.StateChange&contenttype=json` +
        `&ClientIP=127.0.0.1&OptPlatform=Android&Sign=${s}&RequestTime=${requestTime}`;
      const body = `{"CallbackCommand":"State.StateChange","EventTime":${base + i},"Info":{"Action":"${action}","To_Account":"${tag}-u${i}","Reason":"${reason}"}}`;
      return { path, body };
    },
  };
}
