/**
 * Every Redis key imrelay writes, in one place, so the gateway (writer) and
 * the worker (reader) cannot drift apart. All live under one prefix, so tests
 * and tenants of a shared Redis never see each other's keys.
 */
export function redisKeys(prefix: string) {
  return {
    prefix,
    /** Stream of accepted events (gateway XADDs, worker's dispatcher reads with group `dispatch`). */
    ingest: `${prefix}:ingest`,
    ingestGroup: "dispatch",
    /** Hash per user: `seq` counter and one field per presence entry (see lua/ingest.lua). */
    presence: (tenant: string, userId: string) => `${prefix}:presence:${tenant}:${userId}`,
    /** Marker of an event id already taken, so vendor re-sends collapse. */
    seen: (eventId: string) => `${prefix}:seen:${eventId}`,
    /** Sorted set of presence entries of renewing vendors (OpenIM) by the time they expire; members from `expiryMember`. */
    expiry: `${prefix}:expiry`,
    /**
     * Sorted set of users whose offline is held (`presence.offlineGrace`), scored by when the grace
     * ends; members from `heldMember`. The held event itself is the `held` field of the user's
     * presence hash (`HELD_FIELD`), so one user's ingest touches no key of its own for it.
     */
    held: `${prefix}:held`,
    /** Hash `tenant:endpointId` → JSON `{ at, reason }` of endpoints disabled at run time (410, admin). */
    disabled: `${prefix}:disabled`,
    /**
     * Per endpoint with `rateLimit`: the time (µs, Redis clock) its next delivery may go out at
     * (lua/rate-limit.lua); expires once that time has passed.
     */
    rateLimit: (tenant: string, endpointId: string) => `${prefix}:ratelimit:${tenant}:${endpointId}`,
    /** Capped list of unrecognized-but-authentic callbacks, newest first. */
    unrecognized: `${prefix}:unrecognized`,
    /** BullMQ queue name for deliveries (BullMQ's own prefix is `prefix`). */
    deliveryQueue: "deliveries",
  } as const;
}
/** The presence hash field holding a user's held offline (lua/ingest.lua, lua/release-held.lua). */
export const HELD_FIELD = "held";

export type RedisKeys = ReturnType<typeof redisKeys>;
