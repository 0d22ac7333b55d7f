import { findEndpoint, findTenant } from "@imrelay/config";
import { disableEndpoint, enableEndpoint, listDisabledEndpoints } from "@imrelay/store";
import type { Express, RequestHandler } from "express";
import { adminError } from "./auth.js";
import type { AdminContext } from "./routes.js";

/**
 * A tenant's endpoints and their run-time state:
 * - `GET /v1/tenants/:tenant/endpoints`
 * - `POST /v1/tenants/:tenant/endpoints/:endpoint/disable` `{ reason? }`
 * - `POST /v1/tenants/:tenant/endpoints/:endpoint/enable`
 * Secrets are never shown; URLs are shown without their query.
 */
export function mountEndpointRoutes(app: Express, ctx: AdminContext) {
  const { config, redis, keys, requireAdmin, requireStore } = ctx;

  const knownEndpoint: RequestHandler = (req, res, next) => {
    const tenant = String(req.params.tenant);
    if (!findEndpoint(config, tenant, String(req.params.endpoint))) {
      adminError(res, 404, "UNKNOWN_ENDPOINT", `tenant "${tenant}" has no endpoint "${req.params.endpoint}"`);
      return;
    }
    next();
  };

  app.get("/v1/tenants/:tenant/endpoints", requireAdmin, requireStore, async (req, res) => {
    const tenant = String(req.params.tenant);
    const tenantConfig = findTenant(config, tenant);
    if (!tenantConfig) {
      adminError(res, 404, "UNKNOWN_TENANT", `no tenant "${tenant}"`);
      return;
    }
    const disabled = new Map((await listDisabledEndpoints(redis, keys, tenant)).map((d) => [d.endpointId, d]));
    res.json({
      tenant,
      endpoints: tenantConfig.endpoints.map((e) => {
        const url = new URL(e.url);
        url.search = "";
        url.username = "";
        url.password = "";
        const runtime = disabled.get(e.id);
        return {
          id: e.id,
          url: url.toString(),
          events: e.events ?? "all",
          changesOnly: e.changesOnly,
          includeRaw: e.includeRaw,
          enabled: e.enabled && !runtime,
          disabled: !e.enabled
            ? { by: "config", at: null, reason: "enabled: false in the config" }
            : runtime
              ? { by: "runtime", at: runtime.at, reason: runtime.reason }
              : null,
        };
      }),
    });
  });

  app.post(
    "/v1/tenants/:tenant/endpoints/:endpoint/disable",
    requireAdmin,
    knownEndpoint,
    requireStore,
    async (req, res) => {
      const reason =
        typeof req.body?.reason === "string" && req.body.reason
          ? req.body.reason.slice(0, 200)
          : "disabled by an admin";
      await disableEndpoint(redis, keys, String(req.params.tenant), String(req.params.endpoint), reason);
      res.json({ tenant: req.params.tenant, endpointId: req.params.endpoint, enabled: false, reason });
    },
  );

  app.post(
    "/v1/tenants/:tenant/endpoints/:endpoint/enable",
    requireAdmin,
    knownEndpoint,
    requireStore,
    async (req, res) => {
      const wasDisabled = await enableEndpoint(redis, keys, String(req.params.tenant), String(req.params.endpoint));
      res.json({ tenant: req.params.tenant, endpointId: req.params.endpoint, enabled: true, wasDisabled });
    },
  );
}
