import type { EndpointConfig, ImrelayConfig, TenantConfig } from "./schema.js";

/**
 * The tenant of that name, own keys only: names come from URLs and stream
 * entries, and `constructor` or `__proto__` must not find Object.prototype.
 *
 * @example
 * findTenant(config, "acme")?.endpoints;
 */
export function findTenant(config: Pick<ImrelayConfig, "tenants">, name: string): TenantConfig | undefined {
  return Object.hasOwn(config.tenants, name) ? config.tenants[name] : undefined;
}

/** The endpoint of a tenant, or undefined. */
export function findEndpoint(
  config: Pick<ImrelayConfig, "tenants">,
  tenant: string,
  endpointId: string,
): EndpointConfig | undefined {
  return findTenant(config, tenant)?.endpoints.find((endpoint) => endpoint.id === endpointId);
}
