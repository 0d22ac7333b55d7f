import { readFileSync } from "node:fs";
import type { RedisClient } from "./connection.js";
import type { RedisKeys } from "./keys.js";
import type { StreamEntry } from "./stream-entry.js";

/** The script that reads entries by id, loaded once; its header says its keys and arguments. */
export const ENTRIES_SCRIPT = readFileSync(new URL("../lua/entries.lua", import.meta.url), "utf8");

const COMMAND = "imrelayEntries";

type ScriptRedis = RedisClient & { [COMMAND](stream: string, ...ids: string[]): Promise<Array<string[] | null>> };

/**
 * Partition `p`'s ingest entries with these ids, in one round trip: what a
 * slow endpoint's batch job refers to (it carries entry ids, not payloads).
 * An entry no longer in the stream comes back with null fields, as a pending
 * entry deleted under XREADGROUP does.
 *
 * @example
 * const entries = await readEntries(redis, keys, 3, ["1712-0", "1712-1"]);
 * parseIngestEntry(entries[0]);
 */
export async function readEntries(
  redis: RedisClient,
  keys: RedisKeys,
  partition: number,
  ids: readonly string[],
): Promise<StreamEntry[]> {
  if (ids.length === 0) return [];
  if (!(COMMAND in redis)) redis.defineCommand(COMMAND, { numberOfKeys: 1, lua: ENTRIES_SCRIPT });
  const found = await (redis as ScriptRedis)[COMMAND](keys.ingest(partition), ...ids);
  return ids.map((id, i) => [id, found[i] ?? null]);
}

/**
 * How many of partition `p`'s stream entries are acked but kept for batch
 * jobs (lua/settle.lua): not a backlog of the dispatcher's.
 */
export async function countKept(redis: RedisClient, keys: RedisKeys, partition: number): Promise<number> {
  return Math.max(0, Number(await redis.get(keys.kept(partition))) || 0);
}
