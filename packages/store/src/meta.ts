import { ImrelayError } from "@imrelay/core";
import { isCluster, type RedisClient } from "./connection.js";
import type { RedisKeys } from "./keys.js";

/** A process configured with another partition count than the data was written with. */
export class PartitionCountError extends ImrelayError<"PARTITIONS_MISMATCH"> {
  readonly stored: number;
  readonly configured: number;
  constructor(stored: number, configured: number, prefix: string) {
    super(
      "PARTITIONS_MISMATCH",
      `redis.partitions is ${configured}, but the data under prefix "${prefix}" was written with ${stored} partitions. ` +
        `The count is fixed once a relay has started: set redis.partitions to ${stored} (or use a new redis.prefix).`,
    );
    this.stored = stored;
    this.configured = configured;
  }
}

/**
 * Records the partition count at first start, and refuses another one later:
 * a user's state and events are found by their partition, so a different
 * count would look for them where they are not. Resolves with the count.
 *
 * @example
 * await checkPartitionCount(redis, keys); // throws PartitionCountError when Redis says otherwise
 */
export async function checkPartitionCount(redis: RedisClient, keys: RedisKeys): Promise<number> {
  await redis.hsetnx(keys.meta, "partitions", String(keys.partitions));
  const stored = Number(await redis.hget(keys.meta, "partitions"));
  if (stored !== keys.partitions) throw new PartitionCountError(stored, keys.partitions, keys.prefix);
  return stored;
}

/** A Redis Cluster node configured as one Redis node (`redis.url`): most keys would answer MOVED. */
export class RedisModeError extends ImrelayError<"REDIS_IS_A_CLUSTER"> {
  constructor() {
    super(
      "REDIS_IS_A_CLUSTER",
      "redis.url points at a node of a Redis Cluster: name the cluster's nodes in redis.cluster.nodes (or REDIS_CLUSTER_NODES) instead",
    );
  }
}

/**
 * What every process checks at start-up, before it reads or writes a thing:
 * a Redis Cluster is not configured as a single node, and the partition
 * count matches the one the data was written with (`checkPartitionCount`).
 *
 * @example
 * await checkRedisLayout(redis, keys); // throws RedisModeError or PartitionCountError
 */
export async function checkRedisLayout(redis: RedisClient, keys: RedisKeys): Promise<number> {
  if (!isCluster(redis) && /^cluster_enabled:1/m.test(await redis.info("cluster"))) throw new RedisModeError();
  return checkPartitionCount(redis, keys);
}
