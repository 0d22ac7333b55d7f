import type { ImrelayConfig } from "@imrelay/config";
import type { RedisClient, RedisKeys } from "@imrelay/store";
import type { Express, RequestHandler } from "express";
import { requireAdmin } from "./auth.js";
import { mountOpenApiRoute } from "./openapi.js";
import { mountPresenceRoutes } from "./presence-routes.js";
import { storeGuard } from "./store-guard.js";

/** What an admin route needs: the guard every admin route must put first, and the gateway's deps. */
export interface AdminContext {
  /** `Authorization: Bearer` guard; 404 for everything when no admin token is configured. */
  requireAdmin: RequestHandler;
  /** After `requireAdmin` on routes that use Redis: 503 STORE_UNAVAILABLE at once while Redis is away. */
  requireStore: RequestHandler;
  config: ImrelayConfig;
  redis: RedisClient;
  keys: RedisKeys;
}

/** Mounts more admin routes (dead letters, the queue dashboard); each must use `ctx.requireAdmin` (and `ctx.requireStore` when it uses Redis). */
export type MountAdmin = (app: Express, ctx: AdminContext) => void;

/**
 * Every admin route of the gateway. Presence and the OpenAPI document are
 * built in; dead letters and the queue dashboard come in through `extra`
 * (`createServer`'s `mountAdmin`).
 *
 * @example
 * mountAdminRoutes(app, { config, redis, keys }, (app, { requireAdmin, requireStore }) => {
 *   app.get("/v1/deliveries", requireAdmin, requireStore, listDeliveries);
 * });
 */
export function mountAdminRoutes(
  app: Express,
  deps: { config: ImrelayConfig; redis: RedisClient; keys: RedisKeys },
  extra?: MountAdmin,
): AdminContext {
  const ctx: AdminContext = {
    ...deps,
    requireAdmin: requireAdmin(deps.config.admin.token),
    requireStore: storeGuard([deps.redis]),
  };
  mountPresenceRoutes(app, ctx);
  mountOpenApiRoute(app, ctx.requireAdmin);
  extra?.(app, ctx);
  return ctx;
}
