import { isoTime, type Platform, type PresencePlatform } from "@imrelay/core";
import { isCluster, type RedisClient } from "./connection.js";
import { HELD_FIELD, type RedisKeys } from "./keys.js";
import { keySlot } from "./slot.js";

/** A user's presence as the admin API shows it. */
export interface UserPresence {
  tenant: string;
  userId: string;
  online: boolean;
  platforms: PresencePlatform[];
  /** The user's last event sequence; 0 when the gateway has seen none. */
  sequence: number;
}

/**
 * Turns a presence hash (`seq`, and `provider:platform[:device]` → `online|atMs|sinceMs`, as
 * lua/ingest.lua writes it) into a `UserPresence`.
 *
 * @example
 * presenceFromHash("acme", "alice", { seq: "3", "tencent:ios": "1|1700000000500|1700000000000" });
 * // { tenant: "acme", userId: "alice", online: true, platforms: [{ provider: "tencent", platform: "ios", device: null, since: "2023-11-14T22:13:20.000Z" }], sequence: 3 }
 */
export function presenceFromHash(tenant: string, userId: string, hash: Record<string, string>): UserPresence {
  const online: Array<PresencePlatform & { sinceMs: number; key: string }> = [];
  for (const [key, value] of Object.entries(hash)) {
    // `seq` and `held` (an offline inside its grace, lua/ingest.lua) are not presence entries.
    if (key === "seq" || key === HELD_FIELD) continue;
    const [flag, , since] = value.split("|");
    const sep = key.indexOf(":");
    if (flag !== "1" || sep < 0) continue;
    const sinceMs = Number(since);
    // Provider and platform never hold ":"; a device key may.
    const sep2 = key.indexOf(":", sep + 1);
    online.push({
      key,
      provider: key.slice(0, sep),
      platform: key.slice(sep + 1, sep2 < 0 ? undefined : sep2) as Platform,
      device: sep2 < 0 ? null : key.slice(sep2 + 1),
      since: isoTime(sinceMs),
      sinceMs,
    });
  }
  // The same order as the events' presence.platforms, which the ingest script builds.
  online.sort((a, b) => a.sinceMs - b.sinceMs || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return {
    tenant,
    userId,
    online: online.length > 0,
    platforms: online.map(({ provider, platform, device, since }) => ({ provider, platform, device, since })),
    sequence: Number(hash.seq ?? 0),
  };
}

/**
 * Reads one user's presence.
 *
 * @example
 * const p = await readPresence({ redis, keys }, "acme", "alice"); // { online: true, platforms: [...], sequence: 3, ... }
 */
export async function readPresence(
  { redis, keys }: { redis: RedisClient; keys: RedisKeys },
  tenant: string,
  userId: string,
): Promise<UserPresence> {
  return presenceFromHash(tenant, userId, await redis.hgetall(keys.presence(tenant, userId)));
}

/**
 * Reads many users' presence: one pipeline (one round trip) per Redis node.
 * A cluster client sends a pipeline to one node only, so users are grouped by
 * the master that holds their partition; a group that meets a moving slot
 * (a reshard) is read again one partition at a time.
 *
 * @example
 * const users = await readPresenceMany({ redis, keys }, "acme", ["alice", "bob"]);
 */
export async function readPresenceMany(
  { redis, keys }: { redis: RedisClient; keys: RedisKeys },
  tenant: string,
  userIds: string[],
): Promise<UserPresence[]> {
  if (userIds.length === 0) return [];
  const hashes = new Array<Record<string, string>>(userIds.length);
  const hashKeys = new Array<string>(userIds.length);
  const byPartition = new Map<number, number[]>();
  userIds.forEach((userId, i) => {
    const p = keys.partitionOf(tenant, userId);
    hashKeys[i] = keys.presenceIn(p, tenant, userId);
    const list = byPartition.get(p);
    if (list) list.push(i);
    else byPartition.set(p, [i]);
  });
  const read = async (indexes: number[]) => {
    const pipeline = redis.pipeline();
    for (const i of indexes) pipeline.hgetall(hashKeys[i]!);
    const replies = (await pipeline.exec()) ?? [];
    indexes.forEach((i, n) => {
      const [err, hash] = replies[n] ?? [new Error("no reply"), null];
      if (err) throw err;
      hashes[i] = (hash ?? {}) as Record<string, string>;
    });
  };
  const groups = new Map<string, number[]>();
  for (const p of byPartition.keys()) {
    const node = isCluster(redis) ? (redis.slots[keySlot(keys.ingest(p))]?.[0] ?? `p${p}`) : "";
    groups.set(node, [...(groups.get(node) ?? []), p]);
  }
  await Promise.all(
    [...groups.values()].map(async (partitions) => {
      try {
        await read(partitions.flatMap((p) => byPartition.get(p)!));
      } catch (err) {
        if (!redis.isCluster || partitions.length === 1) throw err;
        await Promise.all(partitions.map((p) => read(byPartition.get(p)!)));
      }
    }),
  );
  return userIds.map((userId, i) => presenceFromHash(tenant, userId, hashes[i]!));
}
