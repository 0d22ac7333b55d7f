import { isoTime, type Platform, type PresencePlatform } from "@imrelay/core";
import type { Redis } from "ioredis";
import { HELD_FIELD, type RedisKeys } from "./keys.js";

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
  { redis, keys }: { redis: Redis; keys: RedisKeys },
  tenant: string,
  userId: string,
): Promise<UserPresence> {
  return presenceFromHash(tenant, userId, await redis.hgetall(keys.presence(tenant, userId)));
}

/**
 * Reads many users' presence in one pipeline (one round trip).
 *
 * @example
 * const users = await readPresenceMany({ redis, keys }, "acme", ["alice", "bob"]);
 */
export async function readPresenceMany(
  { redis, keys }: { redis: Redis; keys: RedisKeys },
  tenant: string,
  userIds: string[],
): Promise<UserPresence[]> {
  if (userIds.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const userId of userIds) pipeline.hgetall(keys.presence(tenant, userId));
  const replies = (await pipeline.exec()) ?? [];
  return userIds.map((userId, i) => {
    const [err, hash] = replies[i] ?? [new Error("no reply"), null];
    if (err) throw err;
    return presenceFromHash(tenant, userId, (hash ?? {}) as Record<string, string>);
  });
}
