import { createWebhookMiddleware, type WebhookOptions, type WebhookTenantResolver } from "@imrelay/core/node";
import type { Request, RequestHandler } from "express";
import { TencentCallbackError } from "./errors.js";
import { handleCallback, type TencentCallbackOptions, type TencentCallbackResult } from "./handle-callback.js";

/** The per-tenant options of `handleCallback`; the middleware supplies `now`. */
export type TencentTenantOptions = Omit<TencentCallbackOptions, "now">;

/** Picks the tenant for a request; `undefined` answers 404 UNKNOWN_TENANT. */
export type TencentTenantResolver = WebhookTenantResolver<Request, TencentTenantOptions>;

/**
 * Options of `tencentWebhook`: `onEvents`, `limitBytes`, and one tenant's
 * options or `resolveTenant` to pick them per request. Tencent does not retry
 * this callback, so an event `onEvents` does not take is lost.
 */
export type TencentWebhookOptions = WebhookOptions<Request, TencentTenantOptions, TencentCallbackResult>;

/**
 * An Express handler for Tencent Cloud IM callbacks. It reads the raw body
 * itself, so no body parser is needed in front of it (one that already ran
 * does no harm: Tencent's `Sign` covers the query, not the body). Every
 * answer, failures included, is Tencent's JSON envelope.
 *
 * @example
 * import express from "express";
 * import { tencentWebhook } from "@imrelay/tencent-adapter/express";
 *
 * const app = express();
 * app.post(
 *   "/tencent",
 *   tencentWebhook({
 *     tenant: "acme",
 *     sdkAppId: "1400000000",
 *     token: process.env.TENCENT_TOKEN,
 *     onEvents: async ({ events }) => { for (const event of events) await store(event); },
 *   }),
 * );
 */
export function tencentWebhook(options: TencentWebhookOptions): RequestHandler {
  return createWebhookMiddleware(options, {
    handle: (request, tenant: TencentTenantOptions, now) =>
      handleCallback(request, {
        tenant: tenant.tenant,
        sdkAppId: tenant.sdkAppId,
        token: tenant.token,
        now,
        ...(tenant.toleranceSec === undefined ? {} : { toleranceSec: tenant.toleranceSec }),
      }),
    vendorError: TencentCallbackError,
  });
}
