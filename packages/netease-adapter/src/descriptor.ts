import { defineVendor } from "@imrelay/core";
import * as z from "zod";
import { failAnswer } from "./answer.js";
import { handleCallback } from "./handle-callback.js";

/** A tenant's `netease` section of the imrelay config. */
export const NeteaseSection = z
  .object({
    /** The app's AppKey: events' `appId`, and what an `AppKey` header must equal. */
    appKey: z.string().min(1),
    /** When set, the `MD5`, `CheckSum` and `CurTime` headers are required and checked. */
    appSecret: z.string().min(1).optional(),
  })
  .strict();
export type NeteaseSection = z.output<typeof NeteaseSection>;

/**
 * NetEase Yunxin (CommsEase), as the imrelay gateway sees it: the `netease`
 * config section, `POST /v1/tenants/:tenant/netease`, the `{code, desc}`
 * envelope. NetEase names devices (`deviceId`) and never renews: no expiry,
 * which would take every NetEase user offline 30 minutes after login.
 */
export const descriptor = defineVendor({
  provider: "netease",
  displayName: "NetEase Yunxin",
  section: NeteaseSection,
  secrets: { config: ["appSecret"], headers: ["CheckSum"] },
  presence: { renews: false, devices: true },
  route: { commandSegment: false },
  handle: (request, { tenant, section, now }) =>
    handleCallback(
      { body: request.body, query: request.query, headers: request.headers },
      { tenant, appKey: section.appKey, appSecret: section.appSecret, now },
    ),
  fail: (refusal) => failAnswer(refusal),
  appId: (section) => section.appKey,
  describe: (section) => `AppKey ${section.appKey}, ${section.appSecret ? "CheckSum required" : "no CheckSum check"}`,
});
