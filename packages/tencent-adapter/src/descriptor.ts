import { defineVendor } from "@imrelay/core";
import * as z from "zod";
import { failAnswer } from "./answer.js";
import { handleCallback } from "./handle-callback.js";

/** A tenant's `tencent` section of the imrelay config. */
export const TencentSection = z
  .object({
    /** The app's SDKAppID; callbacks with another `SdkAppid` get 403. */
    sdkAppId: z.union([z.string(), z.number()]).transform(String),
    /** When set, `Sign` and `RequestTime` are required on every callback. */
    callbackToken: z.string().min(1).optional(),
  })
  .strict();
export type TencentSection = z.output<typeof TencentSection>;

/**
 * Tencent Cloud IM, as the imrelay gateway sees it: the `tencent` config
 * section, `POST /v1/tenants/:tenant/tencent`, the `ActionStatus` envelope.
 * Presence is per platform (Tencent names no devices) and never renewed.
 */
export const descriptor = defineVendor({
  provider: "tencent",
  displayName: "Tencent Cloud IM",
  section: TencentSection,
  secrets: { config: ["callbackToken"], query: ["Sign"] },
  presence: { renews: false, devices: false },
  route: { commandSegment: false },
  handle: (request, { tenant, section, now }) =>
    handleCallback(
      { body: request.body, query: request.query, headers: request.headers },
      { tenant, sdkAppId: section.sdkAppId, token: section.callbackToken, now },
    ),
  fail: ({ message }) => failAnswer(message),
  appId: (section) => section.sdkAppId,
  describe: (section) => `SdkAppid ${section.sdkAppId}, ${section.callbackToken ? "Sign required" : "no Sign check"}`,
});
