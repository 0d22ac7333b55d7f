import { createWebhookMiddleware, type WebhookOptions, type WebhookTenantResolver } from "@imrelay/core/node";
import type { Request, RequestHandler } from "express";
import { OpenImCallbackError } from "./errors.js";
import { handleCallback, type OpenImCallbackOptions, type OpenImCallbackResult } from "./handle-callback.js";

/** The per-tenant options of `handleCallback`; the middleware supplies `now`. */
export type OpenImTenantOptions = Omit<OpenImCallbackOptions, "now">;

/** Picks the tenant for a request; `undefined` answers 404 UNKNOWN_TENANT. */
export type OpenImTenantResolver = WebhookTenantResolver<Request, OpenImTenantOptions>;

/**
 * Options of `openImWebhook`: `onEvents` (also given unrecognized commands,
 * with no events), `limitBytes`, and one tenant's options or a resolver that
 * picks them per request.
 */
export type OpenImWebhookOptions = WebhookOptions<Request, OpenImTenantOptions, OpenImCallbackResult>;

/**
 * An Express handler for OpenIM's user online / offline / kick-off webhooks.
 * Mount it at both `/openim` (older servers: `?command=`) and
 * `/openim/:command` (v3.8 appends the command to the url). It reads the raw
 * body itself, so no body parser is needed in front of it.
 *
 * @example
 * import express from "express";
 * import { openImWebhook } from "@imrelay/openim-adapter/express";
 *
 * const app = express();
 * app.post(
 *   ["/openim", "/openim/:command"],
 *   openImWebhook({
 *     tenant: "acme",
 *     appId: "acme-openim",
 *     basicAuth: { username: "openim", password: process.env.OPENIM_PASSWORD! },
 *     onEvents: async ({ events }) => { for (const event of events) await store(event); },
 *   }),
 * );
 */
export function openImWebhook(options: OpenImWebhookOptions): RequestHandler {
  return createWebhookMiddleware(options, {
    unknownTenantMessage: "no tenant is configured for this url",
    // `request.path` is the path as first received (`originalUrl`), so a command suffix survives a mount prefix.
    handle: (request, tenant: OpenImTenantOptions, now) =>
      handleCallback(request, { tenant: tenant.tenant, appId: tenant.appId, basicAuth: tenant.basicAuth, now }),
    vendorError: OpenImCallbackError,
  });
}
