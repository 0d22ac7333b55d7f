import { createRedisClient, type RedisClient, type RedisTarget } from "@imrelay/store";
import type { ClusterOptions, RedisOptions } from "ioredis";

export { whenReady } from "@imrelay/store";

/** How long one ingest command may take, retries and redirections included. */
const COMMAND_TIMEOUT_MS = 1000;

/**
 * The ingest connection: fails fast instead of queueing while Redis is away,
 * so a vendor hears 503 well within Tencent's 2 s rather than a hang. It
 * keeps reconnecting in the background, and answers again once Redis is back.
 * On a cluster it follows MOVED and ASK and retries TRYAGAIN and CLUSTERDOWN
 * within the same 1 s, so a reshard is invisible and a failover is a short
 * window of 503s; `CLUSTER_INGEST_DEADLINE_MS` bounds each callback's ingest there.
 *
 * @example
 * const redis = createIngestRedis(config.redis); // or createIngestRedis("redis://127.0.0.1:6379")
 */
export function createIngestRedis(
  target: RedisTarget | string,
  options: RedisOptions = {},
  clusterOptions: ClusterOptions = {},
): RedisClient {
  return createRedisClient(
    typeof target === "string" ? { url: target } : target,
    {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectTimeout: 1000,
      retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
      ...options,
    },
    {
      clusterRetryStrategy: (attempt) => Math.min(attempt * 100, 1000),
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 100,
      retryDelayOnTryAgain: 50,
      slotsRefreshTimeout: 1000,
      ...clusterOptions,
    },
  );
}

/** On a cluster, the longest a callback's ingest may take (the Lua call, and `WAIT` with replicaAcks). */
export const CLUSTER_INGEST_DEADLINE_MS = 1200;
