import { readFileSync } from "node:fs";
import { type AdapterEvent, CallbackError, type ImrelayEvent, isoTimeMs, type PresenceModel } from "@imrelay/core";
import type { Cluster, Redis } from "ioredis";
import { isCluster, type RedisClient } from "./connection.js";
import { heldMember } from "./held.js";
import { allPartitions, type RedisKeys } from "./keys.js";
import { REPLICA_WAIT_MS, replicasAcked, replicasShort } from "./replicas.js";
import { keySlot } from "./slot.js";
import { describeStoreFailure } from "./store-failure.js";
import { joinEventJson } from "./stream-entry.js";
import { holdWritesThisTurn } from "./write-turns.js";

/** Time kept for WAIT's answer to come back, beyond WAIT's own timeout. */
const WAIT_MARGIN_MS = 200;

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

type ScriptRedis = RedisClient & {
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
  redis: RedisClient;
  keys: RedisKeys;
  /** How long a renewing vendor's entry stays online without a renewal, in ms. */
  expiryMs: number;
  /** The presence model of a provider, from its vendor descriptor. */
  presenceModel: (provider: string) => PresenceModel | undefined;
  /** `presence.offlineGrace` in ms: how long an offline that takes a user's last platform offline is held. @default 0 (off) */
  offlineGraceMs?: number;
  /**
   * Replicas of the event's master that must have it before ingest resolves
   * (`WAIT` after the script); fewer within `replicaTimeoutMs` is a
   * STORE_UNAVAILABLE error. @default 0
   */
  replicaAcks?: number;
  /** The longest `WAIT` for replicas. @default 500 */
  replicaTimeoutMs?: number;
  /**
   * How long the whole ingest (the script, and `WAIT` with replicaAcks) may
   * take before it is a STORE_UNAVAILABLE error, however slow Redis or the
   * cluster client's queues are: Tencent waits 2 s, and an answer after that is
   * no answer. Without it, the connection's own command timeout bounds the
   * script alone. @default 1200 with replicaAcks, else none
   */
  deadlineMs?: number;
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
  replicaAcks = 0,
  replicaTimeoutMs = REPLICA_WAIT_MS,
  deadlineMs = replicaAcks > 0 ? 1200 : undefined,
}: CreateIngestOptions): Ingest {
  const define = (client: RedisClient) => {
    if (!(COMMAND in client)) client.defineCommand(COMMAND, { numberOfKeys: 5, lua: INGEST_SCRIPT });
    return client as ScriptRedis;
  };
  const run = define(redis);
  const masterOf = isCluster(redis) ? partitionMasters(redis, keys) : undefined;

  /**
   * With replicaAcks, a callback is answered for only once enough replicas
   * have what this connection wrote, within what is left of the deadline.
   */
  async function confirmReplicated(stream: string, started: number, on: RedisClient): Promise<void> {
    const left = (deadlineMs ?? replicaTimeoutMs + WAIT_MARGIN_MS) - (performance.now() - started);
    // WAIT's own timeout, and a margin for its answer to travel back.
    const waitMs = Math.min(replicaTimeoutMs, Math.floor(left - WAIT_MARGIN_MS));
    const unconfirmed = (reason: string, cause?: unknown) =>
      new CallbackError("STORE_UNAVAILABLE", `${reason}: the event was queued, its replication is unknown`, {
        cause,
      });
    if (waitMs <= 0) throw unconfirmed("Redis was too slow to ask its replicas in time");
    let acked: number;
    try {
      acked = await within(replicasAcked(on, stream, replicaAcks, waitMs), waitMs + WAIT_MARGIN_MS);
    } catch (err) {
      throw unconfirmed(describeStoreFailure(err).reason, err);
    }
    if (acked < replicaAcks) throw replicasShort(acked, replicaAcks, waitMs, "the event");
  }

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
    const occurredAtMs = isoTimeMs(event.occurredAt);
    if (!Number.isFinite(occurredAtMs)) throw new CallbackError("INTERNAL", "the event has no valid occurredAt");
    const model = presenceModel(event.provider);
    const device = model?.devices && event.connectionId ? event.connectionId : "";
    // The grace is counted on the gateway's clock, not the vendor's: a late or skewed vendor time must not shorten it.
    const receivedAtMs = isoTimeMs(event.receivedAt);
    // Every key of the call in the user's partition: one hash slot, so one atomic call on a cluster too.
    const p = keys.partitionOf(event.tenant, event.userId);
    const stream = keys.ingest(p);
    const started = deadlineMs === undefined ? 0 : performance.now();
    let reply: [string, string?, string?];
    /** The connection the script ran on, when not `redis`: WAIT must go there. */
    let wrote: RedisClient = redis;
    /** Whether a first, direct attempt that failed may have run all the same. */
    let earlierMayHaveLanded = false;
    try {
      const args = [
        keys.seen(p, event.id),
        keys.presenceIn(p, event.tenant, event.userId),
        stream,
        keys.expiry(p),
        keys.held(p),
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
      ] as const;
      // On a cluster, straight to the connection of the partition's master when the client's slot map
      // names it (no cluster routing per callback); anything else, or any failure there (MOVED, ASK,
      // TRYAGAIN, a lost connection), goes the cluster client's way, which follows redirections and
      // refreshes its map. A second run of a call that did run is a duplicate (the seen key), never a second event.
      const direct = masterOf?.(p);
      if (direct) {
        holdWritesThisTurn(direct);
        const first = define(direct)
          [COMMAND](...args)
          .then((r) => {
            wrote = direct;
            return r;
          });
        const call = first.catch((err: unknown) => {
          earlierMayHaveLanded = describeStoreFailure(err).mayHaveLanded;
          return run[COMMAND](...args);
        });
        reply = deadlineMs === undefined ? await call : await within(call, deadlineMs - WAIT_MARGIN_MS);
      } else {
        holdWritesThisTurn(redis);
        const call = run[COMMAND](...args);
        reply = deadlineMs === undefined ? await call : await within(call, deadlineMs - WAIT_MARGIN_MS);
      }
    } catch (err) {
      const { reason, mayHaveLanded } = describeStoreFailure(err);
      const taken =
        mayHaveLanded || earlierMayHaveLanded
          ? "the event may or may not have been queued"
          : "the event was not queued";
      throw new CallbackError("STORE_UNAVAILABLE", `${reason}: ${taken}`, { cause: err });
    }
    const [outcome, gatewayJson, hold] = reply;
    if (replicaAcks > 0 && outcome !== "skipped") await confirmReplicated(stream, started, wrote);
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

/** The promise's outcome, or a "Command timed out" error (as ioredis words it) once `ms` have passed. */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("Command timed out")), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * The connection of the master that holds each partition's slot, as the
 * cluster client's own slot map says; undefined while the map has none, or
 * that connection is not ready.
 */
function partitionMasters(cluster: Cluster, keys: RedisKeys): (p: number) => Redis | undefined {
  const slots = allPartitions(keys).map((p) => keySlot(keys.ingest(p)));
  let byAddress = new Map<string, Redis>();
  const lookUp = (address: string) => {
    let node = byAddress.get(address);
    if (!node || node.status === "end") {
      byAddress = new Map(cluster.nodes("master").map((n) => [`${n.options.host}:${n.options.port}`, n]));
      node = byAddress.get(address);
    }
    return node;
  };
  return (p) => {
    const address = cluster.slots[slots[p]!]?.[0];
    const node = address ? lookUp(address) : undefined;
    return node?.status === "ready" ? node : undefined;
  };
}
