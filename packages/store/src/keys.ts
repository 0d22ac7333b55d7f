import { DEFAULT_PARTITIONS } from "@imrelay/config";
import { partitionOf, partitionTags } from "./partitions.js";

/**
 * Every Redis key imrelay writes, in one place, so the gateway (writer) and
 * the worker (reader) cannot drift apart. All live under one prefix, so tests
 * and tenants of a shared Redis never see each other's keys.
 *
 * An event's state lives in its user's partition: every key the ingest script
 * touches, the partition's stream and its delivery queue carry the
 * partition's hash tag (`P:{p3.17}:…`), so on a Redis Cluster they share one
 * slot and the script stays one atomic call. On a single node the same keys
 * simply all live together.
 *
 * @example
 * const keys = redisKeys("imrelay", 16);
 * keys.presence("acme", "alice"); // "imrelay:{p5.2}:presence:acme:alice" (the tag is alice's partition's)
 */
export function redisKeys(prefix: string, partitions: number = DEFAULT_PARTITIONS) {
  const tags = partitionTags(partitions);
  const bases = tags.map((tag) => `${prefix}:{${tag}}`);
  const ingest = bases.map((base) => `${base}:ingest`);
  const expiry = bases.map((base) => `${base}:expiry`);
  const held = bases.map((base) => `${base}:held`);
  const delivered = bases.map((base) => `${base}:delivered`);
  const kept = bases.map((base) => `${base}:kept`);
  const partitionOfUser = (tenant: string, userId: string) => partitionOf(tenant, userId, partitions);
  return {
    prefix,
    /** How many partitions; fixed for the life of the data (see `meta`). */
    partitions,
    /** The hash tag of each partition (without braces). */
    tags,
    /** The partition of a user's state and events. */
    partitionOf: partitionOfUser,
    /** `P:{tag}`: the start of every key of partition `p`, and the BullMQ prefix of its delivery queue. */
    partitionPrefix: (p: number) => bases[p]!,
    /** Stream of partition `p`'s accepted events (gateway XADDs, worker's dispatcher reads with group `dispatch`). */
    ingest: (p: number) => ingest[p]!,
    ingestGroup: "dispatch",
    /** Hash per user: `seq` counter and one field per presence entry (see lua/ingest.lua). */
    presence: (tenant: string, userId: string) =>
      `${bases[partitionOfUser(tenant, userId)]}:presence:${tenant}:${userId}`,
    /** The same, when the caller already has the user's partition. */
    presenceIn: (p: number, tenant: string, userId: string) => `${bases[p]}:presence:${tenant}:${userId}`,
    /** Marker of an event id already taken, so vendor re-sends collapse; in the event's user's partition. */
    seen: (p: number, eventId: string) => `${bases[p]}:seen:${eventId}`,
    /** Sorted set of partition `p`'s presence entries of renewing vendors (OpenIM) by the time they expire; members from `expiryMember`. */
    expiry: (p: number) => expiry[p]!,
    /**
     * Sorted set of partition `p`'s users whose offline is held (`presence.offlineGrace`), scored by
     * when the grace ends; members from `heldMember`. The held event itself is the `held` field of the
     * user's presence hash (`HELD_FIELD`), so one user's ingest touches no key of its own for it.
     */
    held: (p: number) => held[p]!,
    /**
     * Capped stream of partition `p`'s deliveries that succeeded at their first attempt, sent
     * straight from the ingest stream without a BullMQ job (delivered-log.ts): the admin API
     * lists them beside the queue's completed jobs.
     */
    delivered: (p: number) => delivered[p]!,
    /**
     * Counter of partition `p`'s ingest entries acked but kept in the stream, because a batch job
     * of a slow endpoint refers to them (lua/settle.lua): the stream's length less this is what is
     * still to be dispatched.
     */
    kept: (p: number) => kept[p]!,
    /** Hash `tenant:endpointId` → JSON `{ at, reason }` of endpoints disabled at run time (410, admin). */
    disabled: `${prefix}:disabled`,
    /**
     * Per endpoint with `rateLimit`: the time (µs, Redis clock) its next delivery may go out at
     * (lua/rate-limit.lua); expires once that time has passed.
     */
    rateLimit: (tenant: string, endpointId: string) => `${prefix}:ratelimit:${tenant}:${endpointId}`,
    /** Capped list of unrecognized-but-authentic callbacks, newest first. */
    unrecognized: `${prefix}:unrecognized`,
    /** Hash of the layout's fixed facts (`partitions`), written at first start. */
    meta: `${prefix}:meta`,
    /** BullMQ queue name of each partition's deliveries (BullMQ's prefix is `partitionPrefix(p)`). */
    deliveryQueue: "deliveries",
    /**
     * BullMQ queue name of each partition's batches of a slow endpoint's first attempts (same
     * prefix): a queue of their own, so a batch, which waits on its slow endpoint for minutes,
     * never holds a slot a retry of another endpoint needs.
     */
    batchQueue: "batches",
  } as const;
}
/** The presence hash field holding a user's held offline (lua/ingest.lua, lua/release-held.lua). */
export const HELD_FIELD = "held";

export type RedisKeys = ReturnType<typeof redisKeys>;

/** Every partition, 0 to P − 1. */
export function allPartitions(keys: Pick<RedisKeys, "partitions">): number[] {
  return Array.from({ length: keys.partitions }, (_, p) => p);
}
