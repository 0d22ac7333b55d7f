import { readFileSync } from "node:fs";
import type { RedisClient } from "./connection.js";
import type { RedisKeys } from "./keys.js";

/** The renew script, loaded once; its header says its keys and arguments. */
export const RENEW_SCRIPT = readFileSync(new URL("../lua/renew.lua", import.meta.url), "utf8");

const COMMAND = "imrelayRenew";

type ScriptRedis = RedisClient & { [COMMAND](stream: string, ...args: string[]): Promise<number> };

/**
 * Resets the idle time of partition `p`'s ingest entries that `consumer`
 * holds and still owns, so no other dispatcher claims them as a dead one's;
 * an entry another consumer has claimed meanwhile stays that consumer's.
 * Resolves with how many were renewed.
 *
 * @example
 * await renewEntries(redis, keys, 3, "worker-1", ["1712-0", "1712-1"]); // 2
 */
export async function renewEntries(
  redis: RedisClient,
  keys: RedisKeys,
  partition: number,
  consumer: string,
  ids: readonly string[],
): Promise<number> {
  if (ids.length === 0) return 0;
  if (!(COMMAND in redis)) redis.defineCommand(COMMAND, { numberOfKeys: 1, lua: RENEW_SCRIPT });
  return (redis as ScriptRedis)[COMMAND](keys.ingest(partition), keys.ingestGroup, consumer, ...ids);
}
