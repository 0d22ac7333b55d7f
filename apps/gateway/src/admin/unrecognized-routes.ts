import type { Express } from "express";
import { defineOperation, mountOperation } from "./operation.js";
import type { AdminContext } from "./routes.js";
import { AdminErrorBody, UnrecognizedList, UnrecognizedQuery } from "./schemas.js";

export const listUnrecognized = defineOperation({
  id: "listUnrecognized",
  method: "get",
  path: "/v1/unrecognized",
  tag: "callbacks",
  summary: "Authentic callbacks nothing maps (a new Tencent Action, an unknown OpenIM command), newest first",
  query: UnrecognizedQuery,
  invalidCodes: { "query.limit": "INVALID_PAGE" },
  responses: {
    200: { description: "the kept callbacks, secrets removed", schema: UnrecognizedList },
    400: { description: "a limit outside 1-1000 (`INVALID_PAGE`)", schema: AdminErrorBody },
  },
});

/** `GET /v1/unrecognized?limit=&tenant=`: authentic callbacks nothing maps, newest first (secrets already removed). */
export function mountUnrecognizedRoutes(app: Express, { redis, keys, requireAdmin, requireStore }: AdminContext) {
  mountOperation(app, listUnrecognized, [requireAdmin, requireStore], async ({ query: { limit, tenant } }, res) => {
    const rows = await redis.lrange(keys.unrecognized, 0, limit - 1);
    const callbacks = rows
      .map((row) => {
        try {
          return JSON.parse(row) as Record<string, unknown>;
        } catch {
          return { unreadable: row.slice(0, 200) };
        }
      })
      .filter((row) => !tenant || row.tenant === tenant);
    res.json({ callbacks });
  });
}
