import type { RedisKeys } from "@imrelay/config";
import { type AdapterEvent, CallbackError, type ImrelayEvent } from "@imrelay/core";
import type { Redis } from "ioredis";
import { INGEST_SCRIPT } from "./script.js";
import { describeStoreFailure } from "./store-failure.js";

/** How long an event id stays taken, so a vendor re-send within it collapses. */
export const SEEN_TTL_SECONDS = 86_400;

/** What happened to an event: queued on the stream, or why not. */
export type IngestOutcome = "queued" | "duplicate" | "renewal" | "skipped";

export interface IngestResult {
  outcome: IngestOutcome;
  /** The event as queued, gateway fields included (only when `outcome` is `queued`). */
  event?: ImrelayEvent;
}

export interface IngestOptions {
  /** The vendor body and query, stored beside the event for endpoints with `includeRaw`. */
  raw?: { body: unknown; query: Record<string, unknown> };
  /** Apply only while the platform is still online with exactly this `atMs` (the expiry sweeper's guard). */
  onlyIfOnlineAt?: number;
}

/** Puts one adapter event into Redis: dedupe, presence, sequence and stream in one round trip. */
export type Ingest = (event: AdapterEvent, options?: IngestOptions) => Promise<IngestResult>;

const COMMAND = "imrelayIngest";

type ScriptRedis = Redis & {
  [COMMAND](...args: Array<string | number>): Promise<[string, string?]>;
};

/**
 * The expiry sorted set's member for one OpenIM platform of a user.
 *
 * @example
 * expiryMember("acme", "alice", "web"); // '["acme","alice","web"]'
 */
export function expiryMember(tenant: string, userId: string, platform: string): string {
  // JSON, not a separator: user ids come from vendors and may hold any character.
  return JSON.stringify([tenant, userId, platform]);
}

/**
 * Builds the ingest function on a Redis connection. The connection should
 * fail fast (see `createIngestRedis`), so a vendor hears 503 well within its
 * timeout when Redis is down.
 *
 * @example
 * const ingest = createIngest({ redis, keys: redisKeys("imrelay"), openimExpiryMs: 30 * 60_000 });
 * const { outcome, event } = await ingest(adapterEvent);
 */
export function createIngest({
  redis,
  keys,
  openimExpiryMs,
}: {
  redis: Redis;
  keys: RedisKeys;
  openimExpiryMs: number;
}): Ingest {
  if (!(COMMAND in redis)) redis.defineCommand(COMMAND, { numberOfKeys: 4, lua: INGEST_SCRIPT });
  const run = redis as ScriptRedis;

  return async (event, options = {}) => {
    const full = event as AdapterEvent & Partial<ImrelayEvent>;
    // Adapters' events carry none of these; copying the event only to drop them would cost every callback.
    const plain =
      full.raw === undefined &&
      full.sequence === undefined &&
      full.presence === undefined &&
      full.changed === undefined &&
      full.stale === undefined
        ? event
        : (({ raw: _raw, sequence: _sequence, presence: _presence, changed: _changed, stale: _stale, ...rest }) =>
            rest)(full);
    const json = JSON.stringify(plain);
    const occurredAtMs = Date.parse(event.occurredAt);
    if (!Number.isFinite(occurredAtMs)) throw new CallbackError("INTERNAL", "the event has no valid occurredAt");
    let reply: [string, string?];
    try {
      reply = await run[COMMAND](
        keys.seen(event.id),
        keys.presence(event.tenant, event.userId),
        keys.ingest,
        keys.expiry,
        json.slice(0, -1),
        event.type,
        event.provider,
        event.platform,
        occurredAtMs,
        event.status ?? "",
        event.provider === "tencent" ? event.kickedPlatforms.join(",") : "",
        openimExpiryMs,
        expiryMember(event.tenant, event.userId, event.platform),
        options.raw ? JSON.stringify(options.raw) : "",
        options.onlyIfOnlineAt === undefined ? "" : String(options.onlyIfOnlineAt),
        SEEN_TTL_SECONDS,
      );
    } catch (err) {
      const { reason, mayHaveLanded } = describeStoreFailure(err);
      const taken = mayHaveLanded ? "the event may or may not have been queued" : "the event was not queued";
      throw new CallbackError("STORE_UNAVAILABLE", `${reason}: ${taken}`, { cause: err });
    }
    const [outcome, eventJson] = reply;
    if (outcome === "queued" && eventJson) {
      // Parsed only if someone reads it: the callback path never does, and it is hot.
      let parsed: ImrelayEvent | undefined;
      return {
        outcome,
        get event() {
          parsed ??= JSON.parse(eventJson) as ImrelayEvent;
          return parsed;
        },
      };
    }
    return { outcome: outcome as IngestOutcome };
  };
}
