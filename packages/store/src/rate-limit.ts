import { readFileSync } from "node:fs";
import type { RedisClient } from "./connection.js";
import type { RedisKeys } from "./keys.js";

/** The limiter script, loaded once; its header says its keys and arguments. */
export const RATE_LIMIT_SCRIPT = readFileSync(new URL("../lua/rate-limit.lua", import.meta.url), "utf8");

/**
 * Takes one delivery's turn at an endpoint's rate limit; resolves with the ms
 * until that turn (0: send now). Every call takes a turn, so call it once per
 * request sent.
 */
export type TakeRateTurn = (tenant: string, endpointId: string, perSecond: number) => Promise<number>;

const COMMAND = "imrelayRateTurn";

type ScriptRedis = RedisClient & { [COMMAND](key: string, intervalUs: number): Promise<number> };

/**
 * Builds the endpoint rate limiter on a Redis connection (lua/rate-limit.lua):
 * one turn per delivery, spaced `1 / perSecond` apart across every worker.
 *
 * @example
 * const takeTurn = createRateLimiter({ redis, keys });
 * const waitMs = await takeTurn("acme", "presence", 100); // 0: send now
 */
export function createRateLimiter({ redis, keys }: { redis: RedisClient; keys: RedisKeys }): TakeRateTurn {
  if (!(COMMAND in redis)) redis.defineCommand(COMMAND, { numberOfKeys: 1, lua: RATE_LIMIT_SCRIPT });
  const run = redis as ScriptRedis;
  return (tenant, endpointId, perSecond) =>
    run[COMMAND](keys.rateLimit(tenant, endpointId), Math.max(1, Math.round(1_000_000 / perSecond)));
}
