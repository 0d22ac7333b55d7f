import { defineVendor } from "@imrelay/core";
import * as z from "zod";
import { failAnswer } from "./answer.js";
import { handleCallback } from "./handle-callback.js";

/** A tenant's `openim` section of the imrelay config. */
export const OpenImSection = z
  .object({
    /** OpenIM sends no app id; this names the app in events (`appId`). */
    appId: z.string().min(1),
    /** When set, every callback must carry these Basic auth credentials (OpenIM sends the URL's `user:pass@`). */
    basicAuth: z
      .object({ username: z.string().min(1), password: z.string().min(1) })
      .strict()
      .optional(),
  })
  .strict();
export type OpenImSection = z.output<typeof OpenImSection>;

/**
 * OpenIM, as the imrelay gateway sees it: the `openim` config section,
 * `POST /v1/tenants/:tenant/openim[/{command}]`, the `actionCode` envelope.
 * OpenIM re-sends online as a renewal and loses offlines when it restarts,
 * so its platforms expire (`presence.openimExpiry`).
 */
export const descriptor = defineVendor({
  provider: "openim",
  displayName: "OpenIM",
  section: OpenImSection,
  secrets: { config: ["basicAuth"] },
  presence: { renews: true, devices: false },
  route: { commandSegment: true },
  handle: (request, { tenant, section, now }) =>
    handleCallback(
      { body: request.body, query: request.query, headers: request.headers, path: request.path },
      { tenant, appId: section.appId, basicAuth: section.basicAuth, now },
    ),
  fail: (refusal) => failAnswer(refusal),
  appId: (section) => section.appId,
  describe: (section) => `appId ${section.appId}, ${section.basicAuth ? "Basic auth" : "no credentials"}`,
});
