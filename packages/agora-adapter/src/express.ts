import { createWebhookMiddleware, type WebhookOptions, type WebhookTenantResolver } from "@imrelay/core/node";
import type { Request, RequestHandler } from "express";
import { AgoraCallbackError } from "./errors.js";
import { type AgoraCallbackOptions, type AgoraCallbackResult, handleCallback } from "./handle-callback.js";

/** The per-tenant options of `handleCallback`; the middleware supplies `now`. */
export type AgoraTenantOptions = Omit<AgoraCallbackOptions, "now">;

/** Picks the tenant for a request; `undefined` answers 404 UNKNOWN_TENANT. */
export type AgoraTenantResolver = WebhookTenantResolver<Request, AgoraTenantOptions>;

/**
 * Options of `agoraWebhook`: `onEvents` (also given unrecognized callbacks,
 * with no events), `limitBytes`, and one tenant's options or `resolveTenant`
 * to pick them per request. The vendor re-sends a callback once when no
 * answer comes within 60 s, then drops it.
 */
export type AgoraWebhookOptions = WebhookOptions<Request, AgoraTenantOptions, AgoraCallbackResult>;

/**
 * An Express handler for Agora Chat and Easemob user login/logout callbacks.
 * It reads the raw body itself, so no body parser is needed in front of it
 * (one that already ran does no harm: `security` signs `callId` and
 * `timestamp`, not the body's bytes). Every answer, failures included, is a
 * small JSON envelope under 1,000 bytes.
 *
 * @example
 * import express from "express";
 * import { agoraWebhook } from "@imrelay/agora-adapter/express";
 *
 * const app = express();
 * app.post(
 *   "/agora",
 *   agoraWebhook({
 *     tenant: "acme",
 *     appKey: "61000000#acme",
 *     secret: process.env.AGORA_CALLBACK_SECRET,
 *     onEvents: async ({ events }) => { for (const event of events) await store(event); },
 *   }),
 * );
 */
export function agoraWebhook(options: AgoraWebhookOptions): RequestHandler {
  return createWebhookMiddleware(options, {
    handle: (request, tenant: AgoraTenantOptions, now) =>
      handleCallback(request, { tenant: tenant.tenant, appKey: tenant.appKey, secret: tenant.secret, now }),
    vendorError: AgoraCallbackError,
  });
}
