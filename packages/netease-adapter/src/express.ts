import { createWebhookMiddleware, type WebhookOptions, type WebhookTenantResolver } from "@imrelay/core/node";
import type { Request, RequestHandler } from "express";
import { NeteaseCallbackError } from "./errors.js";
import { handleCallback, type NeteaseCallbackOptions, type NeteaseCallbackResult } from "./handle-callback.js";

/** The per-tenant options of `handleCallback`; the middleware supplies `now`. */
export type NeteaseTenantOptions = Omit<NeteaseCallbackOptions, "now">;

/** Picks the tenant for a request; `undefined` answers 404 UNKNOWN_TENANT. */
export type NeteaseTenantResolver = WebhookTenantResolver<Request, NeteaseTenantOptions>;

/**
 * Options of `neteaseWebhook`: `onEvents` (also given unrecognized copies,
 * with no events), `limitBytes`, and one tenant's options or `resolveTenant`
 * to pick them per request.
 */
export type NeteaseWebhookOptions = WebhookOptions<Request, NeteaseTenantOptions, NeteaseCallbackResult>;

/**
 * An Express handler for NetEase Yunxin copies (抄送). It reads the raw body
 * itself: put no JSON body parser in front of it, because `MD5` covers the
 * exact bytes NetEase sent and a parsed body can only be re-encoded
 * (`express.raw()` or `express.text()` in front are fine). Every answer,
 * failures included, is NetEase's JSON envelope.
 *
 * @example
 * import express from "express";
 * import { neteaseWebhook } from "@imrelay/netease-adapter/express";
 *
 * const app = express();
 * app.post(
 *   "/netease",
 *   neteaseWebhook({
 *     tenant: "acme",
 *     appKey: "0123456789abcdef0123456789abcdef",
 *     appSecret: process.env.NETEASE_APP_SECRET,
 *     onEvents: async ({ events }) => { for (const event of events) await store(event); },
 *   }),
 * );
 */
export function neteaseWebhook(options: NeteaseWebhookOptions): RequestHandler {
  return createWebhookMiddleware(options, {
    handle: (request, tenant: NeteaseTenantOptions, now) =>
      handleCallback(request, { tenant: tenant.tenant, appKey: tenant.appKey, appSecret: tenant.appSecret, now }),
    vendorError: NeteaseCallbackError,
  });
}
