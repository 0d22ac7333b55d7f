import { Cluster, type ClusterOptions, Redis, type RedisOptions } from "ioredis";

/** A connection to imrelay's Redis: one node, or a Redis Cluster. Every store function takes either. */
export type RedisClient = Redis | Cluster;

/** Where Redis is, as the config has it: `url` for one node, or `cluster.nodes` (seed nodes). */
export interface RedisTarget {
  url?: string | undefined;
  cluster?: { nodes: string[] } | undefined;
}

export interface ClusterSeed {
  host: string;
  port: number;
  username?: string;
  password?: string;
  tls?: boolean;
}

/**
 * A seed node as ioredis takes it, from `redis://[user:password@]host:port`,
 * `rediss://…` or a bare `host:port`.
 */
export function clusterNode(text: string): ClusterSeed {
  const url = new URL(/^[a-z]+:\/\//i.test(text) ? text : `redis://${text}`);
  const node: ClusterSeed = {
    host: url.hostname.replace(/^\[|\]$/g, ""),
    port: url.port ? Number(url.port) : 6379,
  };
  if (url.username) node.username = decodeURIComponent(url.username);
  if (url.password) node.password = decodeURIComponent(url.password);
  if (url.protocol === "rediss:") node.tls = true;
  return node;
}

/**
 * Connects to the configured Redis. `options` apply to every node
 * connection; on a cluster, `clusterOptions` to the cluster client (which
 * follows MOVED and ASK, so a reshard or a failover needs nothing from the
 * caller). Credentials and TLS of the first seed node apply to every node.
 *
 * @example
 * const redis = createRedisClient(config.redis, { maxRetriesPerRequest: null });
 */
export function createRedisClient(
  target: RedisTarget,
  options: RedisOptions = {},
  clusterOptions: ClusterOptions = {},
): RedisClient {
  if (!target.cluster) return new Redis(target.url ?? "redis://127.0.0.1:6379", options);
  const nodes = target.cluster.nodes.map(clusterNode);
  const { username, password, tls } = nodes[0] ?? {};
  const { enableOfflineQueue, ...nodeOptions } = options;
  return new Cluster(
    nodes.map(({ host, port }) => ({ host, port })),
    {
      ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
      ...clusterOptions,
      redisOptions: {
        ...nodeOptions,
        ...(username ? { username } : {}),
        ...(password ? { password } : {}),
        ...(tls ? { tls: {} } : {}),
        ...clusterOptions.redisOptions,
      },
    },
  );
}

/** True for a Redis Cluster client. */
export function isCluster(client: RedisClient): client is Cluster {
  return client.isCluster;
}

/**
 * Resolves true once the connection is ready, or false after `timeoutMs`, so start-up never hangs on Redis.
 *
 * @example
 * if (!(await whenReady(redis, 5000))) logger.warn("Redis is not answering yet");
 */
export function whenReady(redis: RedisClient, timeoutMs: number): Promise<boolean> {
  if (redis.status === "ready") return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      redis.off("ready", onReady);
      resolve(false);
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve(true);
    };
    redis.once("ready", onReady);
  });
}
