import { findTenant, type ImrelayConfig } from "@imrelay/config";
import { type RedisClient, type RedisKeys, readPresence, readPresenceMany } from "@imrelay/store";
import type { Express, RequestHandler } from "express";
import { adminError } from "./auth.js";
import { defineOperation, mountOperation } from "./operation.js";
import {
  AdminErrorBody,
  PRESENCE_QUERY_MAX,
  PresenceQueryAnswer,
  PresenceQueryBody,
  TenantParams,
  UserParams,
  UserPresence,
} from "./schemas.js";

export { PRESENCE_QUERY_MAX };

const unknownTenant = { description: "no such tenant (`UNKNOWN_TENANT`)", schema: AdminErrorBody };

export const getPresence = defineOperation({
  id: "getPresence",
  method: "get",
  path: "/v1/tenants/:tenant/users/:userId/presence",
  tag: "presence",
  summary: "One user's presence across providers and platforms",
  params: UserParams,
  responses: { 200: { description: "the user's presence", schema: UserPresence }, 404: unknownTenant },
});

export const queryPresence = defineOperation({
  id: "queryPresence",
  method: "post",
  path: "/v1/tenants/:tenant/presence/query",
  tag: "presence",
  summary: `Many users' presence at once (up to ${PRESENCE_QUERY_MAX})`,
  description: "Read in one Redis pipeline, however many users are asked for.",
  params: TenantParams,
  body: PresenceQueryBody,
  bodyLimit: "512kb",
  responses: {
    200: { description: "each user's presence, by user id", schema: PresenceQueryAnswer },
    400: { description: "not `{ userIds: [...] }`, or too many (`INVALID_REQUEST`)", schema: AdminErrorBody },
    404: unknownTenant,
  },
});

export const PRESENCE_OPERATIONS = [getPresence, queryPresence];

/**
 * `GET /v1/tenants/:tenant/users/:userId/presence` and the batch
 * `POST /v1/tenants/:tenant/presence/query` (`{ userIds: [...] }`, one pipeline).
 *
 * @example
 * mountPresenceRoutes(app, { config, redis, keys, requireAdmin: requireAdmin(config.admin.token), requireStore: storeGuard([redis]) });
 */
export function mountPresenceRoutes(
  app: Express,
  {
    config,
    redis,
    keys,
    requireAdmin,
    requireStore,
  }: {
    config: ImrelayConfig;
    redis: RedisClient;
    keys: RedisKeys;
    requireAdmin: RequestHandler;
    requireStore: RequestHandler;
  },
) {
  const knownTenant: RequestHandler = (req, res, next) => {
    const tenant = String(req.params.tenant);
    if (!findTenant(config, tenant)) {
      adminError(res, 404, "UNKNOWN_TENANT", `no tenant "${tenant}"`);
      return;
    }
    next();
  };

  mountOperation(app, getPresence, [requireAdmin, knownTenant, requireStore], async ({ params }, res) => {
    res.json(await readPresence({ redis, keys }, params.tenant, params.userId));
  });

  mountOperation(app, queryPresence, [requireAdmin, knownTenant, requireStore], async ({ params, body }, res) => {
    const presence = await readPresenceMany({ redis, keys }, params.tenant, body.userIds);
    // By user id, as `{ users: { "<id>": <presence> } }`; a user asked for twice is there once.
    res.json({ users: Object.fromEntries(presence.map((user) => [user.userId, user])) });
  });
}
