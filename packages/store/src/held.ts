import { readFileSync } from "node:fs";
import type { RedisClient } from "./connection.js";
import type { RedisKeys } from "./keys.js";

/** The release script, loaded once; its header says its keys and arguments. */
export const RELEASE_HELD_SCRIPT = readFileSync(new URL("../lua/release-held.lua", import.meta.url), "utf8");

/** A user whose offline may be held: the held set's member names them. */
export interface HeldUser {
  tenant: string;
  userId: string;
}

/**
 * The held set's member for a user (one hold per user at most: a hold exists only while the user is offline).
 *
 * @example
 * heldMember({ tenant: "acme", userId: "alice" }); // '["acme","alice"]'
 */
export function heldMember({ tenant, userId }: HeldUser): string {
  // JSON, not a separator: user ids come from vendors and may hold any character.
  return JSON.stringify([tenant, userId]);
}

/** Reads a held member back; undefined when it is not one this version wrote. */
export function parseHeldMember(member: string): HeldUser | undefined {
  let parts: unknown;
  try {
    parts = JSON.parse(member);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parts) || parts.length !== 2 || !parts.every((p) => typeof p === "string" && p !== "")) {
    return undefined;
  }
  return { tenant: parts[0], userId: parts[1] };
}

/** What releasing a due hold did: `released` (this call XADDed it), or someone else had it (`gone`), or a newer hold is not due (`early`). */
export type ReleaseOutcome = "released" | "gone" | "early";

export interface ReleaseResult {
  outcome: ReleaseOutcome;
  /** The event as queued, gateway fields included (only when `released`): the adapter's JSON and the gateway's. */
  eventJson?: string;
  gatewayJson?: string;
}

/** Releases one user's held offline if its grace is over at `now`; exactly one caller across gateways gets `released`. */
export type ReleaseHeld = (user: HeldUser, now: number) => Promise<ReleaseResult>;

const COMMAND = "imrelayReleaseHeld";

type ScriptRedis = RedisClient & {
  [COMMAND](...args: Array<string | number>): Promise<[string, string?, string?]>;
};

/**
 * Builds the release function on a Redis connection (lua/release-held.lua).
 *
 * @example
 * const release = createReleaseHeld({ redis, keys });
 * const { outcome } = await release({ tenant: "acme", userId: "alice" }, Date.now());
 */
export function createReleaseHeld({ redis, keys }: { redis: RedisClient; keys: RedisKeys }): ReleaseHeld {
  if (!(COMMAND in redis)) redis.defineCommand(COMMAND, { numberOfKeys: 3, lua: RELEASE_HELD_SCRIPT });
  const run = redis as ScriptRedis;
  return async (user, now) => {
    // The user's partition: its held set, the presence hash and its stream share one hash slot.
    const p = keys.partitionOf(user.tenant, user.userId);
    const [outcome, eventJson, gatewayJson] = await run[COMMAND](
      keys.held(p),
      keys.presenceIn(p, user.tenant, user.userId),
      keys.ingest(p),
      heldMember(user),
      now,
    );
    return { outcome: outcome as ReleaseOutcome, eventJson, gatewayJson };
  };
}
