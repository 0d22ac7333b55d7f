import { readFileSync } from "node:fs";
import { type AdapterEvent, CallbackError, type ImrelayEvent, type PresenceModel } from "@imrelay/core";
import type { Redis } from "ioredis";
import { heldMember } from "./held.js";
import type { RedisKeys } from "./keys.js";
import { describeStoreFailure } from "./store-failure.js";
import { joinEventJson } from "./stream-entry.js";

/** How long an event id stays taken, so a vendor re-send within it collapses. */
export const SEEN_TTL_SECONDS = 86_400;

/**
 * The ingest script, loaded once; its header says its keys and arguments.
 * The packed CLI bundles this module into its own `dist/` and ships `lua/`
 * beside it (apps/cli/scripts/pack.mjs), so the path holds there too.
 */
export const INGEST_SCRIPT = readFileSync(new URL("../lua/ingest.lua", import.meta.url), "utf8");

/**
 * What happened to an event: queued on the stream, held (an offline inside
 * `presence.offlineGrace`, in Redis until it is released or cancelled), or why not.
 */
export type IngestOutcome = "queued" | "held" | "duplicate" | "renewal" | "skipped";

/** What an event did to a held offline of its user: let it go early (`cancelled`) or late (`released`). */
export type HoldOutcome = "cancelled" | "released";

export interface IngestResult {
  outcome: IngestOutcome;
  /**
   * The event as queued, gateway fields included (when `outcome` is `queued` or
   * `held`; a held event says `changed: true`, what it is delivered with unless the user comes back).
   */
  event?: ImrelayEvent;
  /**
   * Set when the user had an offline held and this event found them online: the held
   * offline went out first, with `changed: false` (`cancelled`, back within the grace)
   * or `changed: true` (`released`, the grace was over).
   */
  hold?: HoldOutcome;
}

export interface IngestOptions {
  /** The vendor body and query, stored beside the event for endpoints with `includeRaw`. */
  raw?: { body: unknown; query: Record<string, unknown> };
  /** Apply only while the entry is still online with exactly this `atMs` (the expiry sweeper's guard). */
  onlyIfOnlineAt?: number;
  /**
   * The W3C `traceparent` of the span that enqueues the event, stored beside it
   * (stream field `t`) so its delivery attempts join the callback's trace.
   * Given only while tracing is on.
   */
  traceparent?: string;
}

/** Puts one adapter event into Redis: dedupe, presence, sequence and stream in one round trip. */
export type Ingest = (event: AdapterEvent, options?: IngestOptions) => Promise<IngestResult>;

const COMMAND = "imrelayIngest";

type ScriptRedis = Redis & {
  [COMMAND](...args: Array<string | number>): Promise<[string, string?, string?]>;
};

/** What the presence hash and the expiry set know an entry by: a platform of a provider, and a device when the vendor names them. */
export interface PresenceEntryKey {
  tenant: string;
  userId: string;
  provider: string;
  platform: string;
  device?: string | null;
}

/**
 * The expiry sorted set's member for one presence entry of a user.
 *
 * @example
 * expiryMember({ tenant: "acme", userId: "alice", provider: "openim", platform: "web" }); // '["acme","alice","openim","web"]'
 */
export function expiryMember({ tenant, userId, provider, platform, device }: PresenceEntryKey): string {
  // JSON, not a separator: user ids come from vendors and may hold any character.
  return JSON.stringify(device ? [tenant, userId, provider, platform, device] : [tenant, userId, provider, platform]);
}

/**
 * Reads an expiry member back; undefined when it is not one this version wrote.
 * (Members of the first layout, `[tenant, userId, platform]`, were OpenIM's.)
 */
export function parseExpiryMember(member: string): PresenceEntryKey | undefined {
  let parts: unknown;
  try {
    parts = JSON.parse(member);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parts) || !parts.every((p) => typeof p === "string" && p !== "")) return undefined;
  if (parts.length === 3) return { tenant: parts[0], userId: parts[1], provider: "openim", platform: parts[2] };
  if (parts.length === 4 || parts.length === 5) {
    return { tenant: parts[0], userId: parts[1], provider: parts[2], platform: parts[3], device: parts[4] ?? null };
  }
  return undefined;
}

export interface CreateIngestOptions {
  redis: Redis;
  keys: RedisKeys;
  /** How long a renewing vendor's entry stays online without a renewal, in ms. */
  expiryMs: number;
  /** The presence model of a provider, from its vendor descriptor. */
  presenceModel: (provider: string) => PresenceModel | undefined;
  /** `presence.offlineGrace` in ms: how long an offline that takes a user's last platform offline is held. @default 0 (off) */
  offlineGraceMs?: number;
}

/**
 * Builds the ingest function on a Redis connection. The connection should
 * fail fast (see `createIngestRedis`), so a vendor hears 503 well within its
 * timeout when Redis is down.
 *
 * @example
 * const ingest = createIngest({ redis, keys: redisKeys("imrelay"), expiryMs: 30 * 60_000, presenceModel });
 * const { outcome, event } = await ingest(adapterEvent);
 */
export function createIngest({
  redis,
  keys,
  expiryMs,
  presenceModel,
  offlineGraceMs = 0,
}: CreateIngestOptions): Ingest {
  if (!(COMMAND in redis)) redis.defineCommand(COMMAND, { numberOfKeys: 5, lua: INGEST_SCRIPT });
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
    const model = presenceModel(event.provider);
    const device = model?.devices && event.connectionId ? event.connectionId : "";
    // The grace is counted on the gateway's clock, not the vendor's: a late or skewed vendor time must not shorten it.
    const receivedAtMs = Date.parse(event.receivedAt);
    let reply: [string, string?, string?];
    try {
      reply = await run[COMMAND](
        keys.seen(event.id),
        keys.presence(event.tenant, event.userId),
        keys.ingest,
        keys.expiry,
        keys.held,
        json,
        event.provider,
        event.platform,
        device,
        occurredAtMs,
        event.status ?? "",
        event.kickedPlatforms.join(","),
        model?.renews ? "1" : "",
        expiryMs,
        model?.renews ? expiryMember({ ...event, device }) : "",
        options.raw ? JSON.stringify(options.raw) : "",
        options.onlyIfOnlineAt === undefined ? "" : String(options.onlyIfOnlineAt),
        SEEN_TTL_SECONDS,
        options.traceparent ?? "",
        offlineGraceMs,
        Number.isFinite(receivedAtMs) ? receivedAtMs : occurredAtMs,
        offlineGraceMs > 0 ? heldMember(event) : "",
      );
    } catch (err) {
      const { reason, mayHaveLanded } = describeStoreFailure(err);
      const taken = mayHaveLanded ? "the event may or may not have been queued" : "the event was not queued";
      throw new CallbackError("STORE_UNAVAILABLE", `${reason}: ${taken}`, { cause: err });
    }
    const [outcome, gatewayJson, hold] = reply;
    if ((outcome === "queued" || outcome === "held") && gatewayJson) {
      // Parsed only if someone reads it: the callback path never does, and it is hot.
      let parsed: ImrelayEvent | undefined;
      return {
        outcome,
        hold: hold as HoldOutcome | undefined,
        get event() {
          parsed ??= JSON.parse(joinEventJson(json, gatewayJson)) as ImrelayEvent;
          return parsed;
        },
      };
    }
    return { outcome: outcome as IngestOutcome };
  };
}
