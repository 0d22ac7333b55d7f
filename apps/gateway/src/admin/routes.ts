import type { ImrelayConfig } from "@imrelay/config";
import type { RedisClient, RedisKeys } from "@imrelay/store";
import type { Express, RequestHandler } from "express";
import { requireAdmin } from "./auth.js";
import { mountPresenceRoutes } from "./presence-routes.js";

/** What an admin route needs: the guard every admin route must put first, and the gateway's deps. */
export interface AdminContext {
  /** `Authorization: Bearer` guard; 404 for everything when no admin token is configured. */
  requireAdmin: RequestHandler;
  config: ImrelayConfig;
  redis: RedisClient;
  keys: RedisKeys;
}

/** Mounts more admin routes (dead letters, the queue dashboard); each must use `ctx.requireAdmin`. */
export type MountAdmin = (app: Express, ctx: AdminContext) => void;

/**
 * Every admin route of the gateway. Presence is built in; dead letters and
 * the queue dashboard come in through `extra` (`createServer`'s `mountAdmin`).
 *
 * @example
 * mountAdminRoutes(app, { config, redis, keys }, (app, { requireAdmin }) => {
 *   app.get("/v1/deliveries", requireAdmin, listDeliveries);
 * });
 */
export function mountAdminRoutes(
  app: Express,
  deps: { config: ImrelayConfig; redis: RedisClient; keys: RedisKeys },
  extra?: MountAdmin,
): AdminContext {
  const ctx: AdminContext = { ...deps, requireAdmin: requireAdmin(deps.config.admin.token) };
  mountPresenceRoutes(app, ctx);
  extra?.(app, ctx);
  return ctx;
}
