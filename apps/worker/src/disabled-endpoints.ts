import { disabledField, isEndpointDisabled, type RedisKeys } from "@imrelay/store";
import type { Redis } from "ioredis";

/**
 * How stale the worker's copy of the run-time disabled set may be: an endpoint
 * disabled by the admin API (or by another worker's 410) stops getting
 * deliveries from this worker within this long (plus one Redis round trip).
 */
export const DISABLED_CACHE_MS = 1_000;

export interface DisabledEndpointCheck {
  /** True when the endpoint is disabled at run time. */
  isDisabled(tenant: string, endpointId: string): Promise<boolean>;
  /** This worker disabled it itself (410): its next deliveries see it at once. */
  markDisabled(tenant: string, endpointId: string): void;
}

/**
 * The run-time disabled endpoints, read as one `HKEYS` of the whole hash at
 * most once per `ttlMs` and shared by every delivery, instead of one `HEXISTS`
 * per delivery. Only "enabled" is taken from the copy: an endpoint the copy
 * holds as disabled is asked of Redis again, so an enable followed at once by
 * a replay delivers (disabled endpoints are few, so this costs next to nothing).
 *
 * @example
 * const disabled = createDisabledEndpointCheck({ redis, keys });
 * if (await disabled.isDisabled("acme", "presence")) throw …;
 */
export function createDisabledEndpointCheck({
  redis,
  keys,
  ttlMs = DISABLED_CACHE_MS,
  now = Date.now,
}: {
  redis: Redis;
  keys: RedisKeys;
  ttlMs?: number;
  now?: () => number;
}): DisabledEndpointCheck {
  let fields: Set<string> | undefined;
  let readAt = Number.NEGATIVE_INFINITY;
  let reading: Promise<Set<string>> | undefined;

  function snapshot(): Set<string> | Promise<Set<string>> {
    if (fields && now() - readAt < ttlMs) return fields;
    if (!reading) {
      // Aged from when the read was sent: the copy is never older than ttlMs plus a round trip.
      const sentAt = now();
      reading = redis
        .hkeys(keys.disabled)
        .then((list) => {
          fields = new Set(list);
          readAt = sentAt;
          return fields;
        })
        .finally(() => {
          reading = undefined;
        });
    }
    return reading;
  }

  return {
    async isDisabled(tenant, endpointId) {
      const field = disabledField(tenant, endpointId);
      const current = await snapshot();
      if (!current.has(field)) return false;
      const still = await isEndpointDisabled(redis, keys, tenant, endpointId);
      if (!still) current.delete(field);
      return still;
    },
    markDisabled(tenant, endpointId) {
      fields?.add(disabledField(tenant, endpointId));
    },
  };
}
