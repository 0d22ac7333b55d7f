import { findTenant, type ImrelayConfig } from "@imrelay/config";
import { type RedisClient, type RedisKeys, readPresence, readPresenceMany } from "@imrelay/store";
import express, { type Express, type RequestHandler } from "express";
import { adminError } from "./auth.js";

/** Users per batch presence query. */
export const PRESENCE_QUERY_MAX = 1000;

/**
 * `GET /v1/tenants/:tenant/users/:userId/presence` and the batch
 * `POST /v1/tenants/:tenant/presence/query` (`{ userIds: [...] }`, one pipeline).
 *
 * @example
 * mountPresenceRoutes(app, { config, redis, keys, requireAdmin: requireAdmin(config.admin.token) });
 */
export function mountPresenceRoutes(
  app: Express,
  {
    config,
    redis,
    keys,
    requireAdmin,
  }: { config: ImrelayConfig; redis: RedisClient; keys: RedisKeys; requireAdmin: RequestHandler },
) {
  const knownTenant: RequestHandler = (req, res, next) => {
    const tenant = String(req.params.tenant);
    if (!findTenant(config, tenant)) {
      adminError(res, 404, "UNKNOWN_TENANT", `no tenant "${tenant}"`);
      return;
    }
    next();
  };

  app.get("/v1/tenants/:tenant/users/:userId/presence", requireAdmin, knownTenant, async (req, res) => {
    res.json(await readPresence({ redis, keys }, String(req.params.tenant), String(req.params.userId)));
  });

  app.post(
    "/v1/tenants/:tenant/presence/query",
    requireAdmin,
    knownTenant,
    express.json({ limit: "512kb" }),
    async (req, res) => {
      const userIds = (req.body as { userIds?: unknown } | undefined)?.userIds;
      if (!Array.isArray(userIds) || userIds.some((id) => typeof id !== "string" || id === "")) {
        adminError(res, 400, "INVALID_REQUEST", "the body must be { userIds: [non-empty strings] }");
        return;
      }
      if (userIds.length > PRESENCE_QUERY_MAX) {
        adminError(res, 400, "INVALID_REQUEST", `at most ${PRESENCE_QUERY_MAX} userIds per query`);
        return;
      }
      res.json({ users: await readPresenceMany({ redis, keys }, String(req.params.tenant), userIds as string[]) });
    },
  );
}
