import type { Express } from "express";
import { adminError } from "./auth.js";
import type { AdminContext } from "./routes.js";

/** `GET /v1/unrecognized?limit=&tenant=`: authentic callbacks nothing maps, newest first (secrets already removed). */
export function mountUnrecognizedRoutes(app: Express, { redis, keys, requireAdmin, requireStore }: AdminContext) {
  app.get("/v1/unrecognized", requireAdmin, requireStore, async (req, res) => {
    const limit = req.query.limit === undefined ? 100 : Number(req.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      adminError(res, 400, "INVALID_PAGE", "limit must be 1-1000");
      return;
    }
    const tenant = req.query.tenant === undefined ? undefined : String(req.query.tenant);
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
