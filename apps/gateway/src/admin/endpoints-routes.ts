import { findEndpoint, findTenant } from "@imrelay/config";
import { disableEndpoint, enableEndpoint, listDisabledEndpoints } from "@imrelay/store";
import type { Express, RequestHandler } from "express";
import { adminError } from "./auth.js";
import { defineOperation, mountOperation } from "./operation.js";
import type { AdminContext } from "./routes.js";
import {
  AdminErrorBody,
  DisableBody,
  EndpointDisabled,
  EndpointEnabled,
  EndpointList,
  EndpointParams,
  TenantParams,
} from "./schemas.js";

const unknownEndpoint = { description: "no such tenant or endpoint (`UNKNOWN_ENDPOINT`)", schema: AdminErrorBody };

export const listEndpoints = defineOperation({
  id: "listEndpoints",
  method: "get",
  path: "/v1/tenants/:tenant/endpoints",
  tag: "endpoints",
  summary: "A tenant's endpoints and whether each is enabled (never their secrets)",
  params: TenantParams,
  responses: {
    200: { description: "the endpoints, in config order", schema: EndpointList },
    404: { description: "no such tenant (`UNKNOWN_TENANT`)", schema: AdminErrorBody },
  },
});

export const disableEndpointOperation = defineOperation({
  id: "disableEndpoint",
  method: "post",
  path: "/v1/tenants/:tenant/endpoints/:endpoint/disable",
  tag: "endpoints",
  summary: "Stop an endpoint: its events become dead letters without a request, until it is enabled",
  params: EndpointParams,
  body: DisableBody,
  responses: {
    200: { description: "disabled", schema: EndpointDisabled },
    400: { description: "a reason that is not a string of 1-200 characters", schema: AdminErrorBody },
    404: unknownEndpoint,
  },
});

export const enableEndpointOperation = defineOperation({
  id: "enableEndpoint",
  method: "post",
  path: "/v1/tenants/:tenant/endpoints/:endpoint/enable",
  tag: "endpoints",
  summary: "Resume an endpoint disabled at run time (by a 410 or the admin API)",
  params: EndpointParams,
  responses: { 200: { description: "enabled", schema: EndpointEnabled }, 404: unknownEndpoint },
});

export const ENDPOINT_OPERATIONS = [listEndpoints, disableEndpointOperation, enableEndpointOperation];

/**
 * A tenant's endpoints and their run-time state:
 * - `GET /v1/tenants/:tenant/endpoints`
 * - `POST /v1/tenants/:tenant/endpoints/:endpoint/disable` `{ reason? }`
 * - `POST /v1/tenants/:tenant/endpoints/:endpoint/enable`
 * Secrets are never shown (only how many there are); URLs are shown without their query.
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

  mountOperation(app, listEndpoints, [requireAdmin, requireStore], async ({ params: { tenant } }, res) => {
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
          filter: e.filter ?? null,
          secrets: typeof e.secret === "string" ? 1 : e.secret.length,
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

  mountOperation(
    app,
    disableEndpointOperation,
    [requireAdmin, knownEndpoint, requireStore],
    async ({ params: { tenant, endpoint }, body }, res) => {
      const reason = body.reason ?? "disabled by an admin";
      await disableEndpoint(redis, keys, tenant, endpoint, reason);
      res.json({ tenant, endpointId: endpoint, enabled: false, reason });
    },
  );

  mountOperation(app, enableEndpointOperation, [requireAdmin, knownEndpoint, requireStore], async ({ params }, res) => {
    const wasDisabled = await enableEndpoint(redis, keys, params.tenant, params.endpoint);
    res.json({ tenant: params.tenant, endpointId: params.endpoint, enabled: true, wasDisabled });
  });
}
