import { defineVendor } from "@imrelay/core";
import * as z from "zod";
import { failAnswer } from "./answer.js";
import { handleCallback } from "./handle-callback.js";

/** A tenant's `agora` section of the imrelay config (Agora Chat or Easemob). */
export const AgoraSection = z
  .object({
    /** The appkey, `org#app`: events' `appId`, and what the body's `appkey` must equal. */
    appKey: z.string().regex(/^[^#\s]+#[^#\s]+$/, "must be an appkey: org#app"),
    /** The callback rule's secret; when set, the body's `security` is required and checked. */
    secret: z.string().min(1).optional(),
  })
  .strict();
export type AgoraSection = z.output<typeof AgoraSection>;

/**
 * Agora Chat and Easemob (one format), as the imrelay gateway sees them: the
 * `agora` config section, `POST /v1/tenants/:tenant/agora`, the
 * `{status, error, error_description}` envelope. A user may have several
 * devices per platform (the resource is the device key); no renewal is ever
 * sent, so no expiry.
 */
export const descriptor = defineVendor({
  provider: "agora",
  displayName: "Agora Chat / Easemob",
  section: AgoraSection,
  secrets: { config: ["secret"], body: ["security"] },
  presence: { renews: false, devices: true },
  route: { commandSegment: false },
  handle: (request, { tenant, section, now }) =>
    handleCallback(
      { body: request.body, query: request.query, headers: request.headers },
      { tenant, appKey: section.appKey, secret: section.secret, now },
    ),
  fail: (refusal) => failAnswer(refusal),
  appId: (section) => section.appKey,
  describe: (section) => `appkey ${section.appKey}, ${section.secret ? "security required" : "no security check"}`,
});
