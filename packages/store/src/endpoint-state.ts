import type { RedisClient } from "./connection.js";
import type { RedisKeys } from "./keys.js";

/** An endpoint disabled at run time (410 Gone, or the admin API). */
export interface DisabledEndpoint {
  tenant: string;
  endpointId: string;
  /** ISO time it was disabled. */
  at: string;
  reason: string;
}

/** The field of `keys.disabled` for one endpoint: tenant and endpoint ids never hold `:`. */
export function disabledField(tenant: string, endpointId: string): string {
  return `${tenant}:${endpointId}`;
}

/**
 * Stops deliveries to an endpoint until {@link enableEndpoint}: the
 * dispatcher adds no new jobs for it, and its queued jobs fail as dead letters.
 *
 * @example
 * await disableEndpoint(redis, keys, "acme", "presence", "410 Gone");
 */
export async function disableEndpoint(
  redis: RedisClient,
  keys: RedisKeys,
  tenant: string,
  endpointId: string,
  reason: string,
  at: Date = new Date(),
): Promise<void> {
  await redis.hset(keys.disabled, disabledField(tenant, endpointId), JSON.stringify({ at: at.toISOString(), reason }));
}

/**
 * Lets deliveries to an endpoint resume. Returns false when it was not disabled.
 * Its dead letters are not replayed by this; the admin API retries them.
 *
 * @example
 * await enableEndpoint(redis, keys, "acme", "presence"); // true
 */
export async function enableEndpoint(
  redis: RedisClient,
  keys: RedisKeys,
  tenant: string,
  endpointId: string,
): Promise<boolean> {
  return (await redis.hdel(keys.disabled, disabledField(tenant, endpointId))) > 0;
}

/**
 * Every endpoint disabled at run time, optionally for one tenant.
 * (Endpoints with `enabled: false` in the config are not listed: the config says so.)
 *
 * @example
 * await listDisabledEndpoints(redis, keys); // [{ tenant: "acme", endpointId: "presence", at: "…", reason: "410 Gone" }]
 */
export async function listDisabledEndpoints(
  redis: RedisClient,
  keys: RedisKeys,
  tenant?: string,
): Promise<DisabledEndpoint[]> {
  const all = await redis.hgetall(keys.disabled);
  const out: DisabledEndpoint[] = [];
  for (const [field, value] of Object.entries(all)) {
    const split = field.indexOf(":");
    const entry: DisabledEndpoint = {
      tenant: field.slice(0, split),
      endpointId: field.slice(split + 1),
      at: "",
      reason: "",
    };
    if (tenant !== undefined && entry.tenant !== tenant) continue;
    try {
      const parsed = JSON.parse(value) as { at?: unknown; reason?: unknown };
      entry.at = typeof parsed.at === "string" ? parsed.at : "";
      entry.reason = typeof parsed.reason === "string" ? parsed.reason : "";
    } catch {
      entry.reason = value;
    }
    out.push(entry);
  }
  return out.sort((a, b) => (a.tenant + a.endpointId).localeCompare(b.tenant + b.endpointId));
}

/** Is the endpoint disabled at run time? (Config `enabled: false` is checked by the caller.) */
export async function isEndpointDisabled(
  redis: RedisClient,
  keys: RedisKeys,
  tenant: string,
  endpointId: string,
): Promise<boolean> {
  return (await redis.hexists(keys.disabled, disabledField(tenant, endpointId))) === 1;
}

/**
 * The fields (`disabledField`) of every endpoint disabled at run time: one
 * read for a whole batch of deliveries, so a disable stops the next batch.
 *
 * @example
 * (await disabledEndpointFields(redis, keys)).has(disabledField("acme", "presence"));
 */
export async function disabledEndpointFields(redis: RedisClient, keys: RedisKeys): Promise<Set<string>> {
  return new Set(await redis.hkeys(keys.disabled));
}
