import { Redis, type RedisOptions } from "ioredis";

/**
 * The ingest connection: fails fast instead of queueing while Redis is away,
 * so a vendor hears 503 well within Tencent's 2 s rather than a hang. It
 * keeps reconnecting in the background, and answers again once Redis is back.
 *
 * @example
 * const redis = createIngestRedis("redis://127.0.0.1:6379");
 */
export function createIngestRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 1000,
    connectTimeout: 1000,
    retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
    ...options,
  });
}

/**
 * Resolves true once the connection is ready, or false after `timeoutMs`, so start-up never hangs on Redis.
 *
 * @example
 * if (!(await whenReady(redis, 5000))) logger.warn("Redis is not answering yet");
 */
export function whenReady(redis: Redis, timeoutMs: number): Promise<boolean> {
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
