import type { ImrelayConfig } from "@imrelay/config";
import { createIngest, type Ingest, type RedisKeys } from "@imrelay/store";
import { presenceModelOf, type Vendor } from "./callbacks/vendor.js";
import { CLUSTER_INGEST_DEADLINE_MS } from "./redis.js";

/**
 * The ingest the gateway runs for its config and vendors: expiry and presence
 * model from the vendors' descriptors, offline grace, replica acks, and on a
 * cluster the per-callback deadline. One place, for `startGateway` and
 * `createServer`'s default.
 *
 * @example
 * const ingest = createGatewayIngest({ redis, keys, config, vendors: GATEWAY_VENDORS });
 */
export function createGatewayIngest({
  redis,
  keys,
  config,
  vendors,
}: {
  redis: Parameters<typeof createIngest>[0]["redis"];
  keys: RedisKeys;
  config: Pick<ImrelayConfig, "presence" | "redis">;
  vendors: readonly Vendor[];
}): Ingest {
  return createIngest({
    redis,
    keys,
    expiryMs: config.presence.openimExpiry,
    presenceModel: presenceModelOf(vendors),
    offlineGraceMs: config.presence.offlineGrace,
    replicaAcks: config.redis.replicaAcks,
    ...(config.redis.cluster ? { deadlineMs: CLUSTER_INGEST_DEADLINE_MS } : {}),
  });
}
