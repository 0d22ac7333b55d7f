import { readFileSync } from "node:fs";
import type { RedisClient } from "./connection.js";
import type { RedisKeys } from "./keys.js";
import { joinEventJson, payloadJson } from "./stream-entry.js";

/**
 * How many first-attempt deliveries each partition's log keeps (about: the
 * stream is trimmed with `~`), as many as BullMQ keeps completed jobs of a
 * partition's queue (`removeOnComplete.count`).
 */
export const DELIVERED_LOG_MAX = 10_000;

/** One delivery that succeeded at its first attempt, sent straight from the ingest stream. */
export interface DeliveredRecord {
  /** The delivery's id, as its job's would be: `deliveryJobId(eventId, endpointId)`. */
  id: string;
  tenant: string;
  endpointId: string;
  /** The payload as sent (`{type, timestamp, data}` JSON); `data` is the event. */
  body: string;
  status: number;
  durationMs: number;
  /** ms since the epoch: when the event was read off the ingest stream, and when the endpoint answered. */
  readAt: number;
  finishedAt: number;
  /** The W3C traceparent the delivery's span was a child of (only while tracing is on). */
  traceparent?: string;
  /**
   * `body` is the payload built from the event's ingest entry (`payloadJson`; `raw`: with the
   * vendor's raw copy). With `entry`, the entry's id, the log copies the entry's fields inside
   * Redis rather than being sent the body again, and builds the body from them when read.
   */
  fromEntry?: { raw: boolean };
  entry?: string;
}

/** The settle script, loaded once; its header says its keys and arguments. */
export const SETTLE_SCRIPT = readFileSync(new URL("../lua/settle.lua", import.meta.url), "utf8");

const COMMAND = "imrelaySettle";

type ScriptRedis = RedisClient & {
  [COMMAND](stream: string, log: string, kept: string, ...args: string[]): Promise<number>;
};

/**
 * Logs delivered records and acks (+ deletes) settled ingest entries of one
 * partition, both in one script call (lua/settle.lua).
 */
export type SettleEntries = (
  partition: number,
  records: readonly DeliveredRecord[],
  acks: readonly string[],
  batched?: KeptEntries,
) => Promise<void>;

/** Entries a slow endpoint's batch job refers to (see lua/settle.lua). */
export interface KeptEntries {
  /** Acked but kept in the stream: a batch just written delivers from them. */
  kept?: readonly string[];
  /** Kept ones whose batched delivery is settled: deleted now. */
  released?: readonly string[];
}

/**
 * Builds the settle step on a Redis connection: one command per call however
 * many records and acks it carries. Not N XADDs: each plain command is a
 * socket write of its own (that was a tenth of the worker's time), and an
 * ioredis pipeline copies every script defined on its connection (BullMQ
 * defines dozens on the worker's) each time one is made.
 *
 * @example
 * const settle = createSettleEntries({ redis, keys });
 * await settle(3, records, ["1712-0", "1712-1"]);
 */
export function createSettleEntries({ redis, keys }: { redis: RedisClient; keys: RedisKeys }): SettleEntries {
  if (!(COMMAND in redis)) redis.defineCommand(COMMAND, { numberOfKeys: 3, lua: SETTLE_SCRIPT });
  const run = redis as ScriptRedis;
  const cap = String(DELIVERED_LOG_MAX);
  return async (partition, records, acks, { kept = [], released = [] } = {}) => {
    if (records.length === 0 && acks.length === 0 && kept.length === 0 && released.length === 0) return;
    const args = [keys.ingestGroup, cap];
    for (const ids of [acks, kept, released]) args.push(String(ids.length), ...ids);
    for (const record of records) {
      const copy = record.entry !== undefined && record.fromEntry !== undefined;
      args.push(
        record.id,
        JSON.stringify([
          record.tenant,
          record.endpointId,
          record.status,
          record.durationMs,
          record.readAt,
          record.finishedAt,
        ]),
        copy ? "" : record.body,
        record.traceparent ?? "",
        copy ? record.entry! : "",
        copy && record.fromEntry!.raw ? "1" : "",
      );
    }
    await run[COMMAND](keys.ingest(partition), keys.delivered(partition), keys.kept(partition), ...args);
  };
}

/** Reads one log entry; null for one this version cannot read (it is skipped, not fatal). */
export function parseDelivered(fields: string[] | null): DeliveredRecord | null {
  if (!fields) return null;
  let id: string | undefined;
  let meta: string | undefined;
  let body: string | undefined;
  let traceparent: string | undefined;
  let eventText: string | undefined;
  let gatewayText: string | undefined;
  let rawText: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i];
    if (name === "i") id = fields[i + 1];
    else if (name === "m") meta = fields[i + 1];
    else if (name === "b") body = fields[i + 1];
    else if (name === "t") traceparent = fields[i + 1];
    else if (name === "e") eventText = fields[i + 1];
    else if (name === "g") gatewayText = fields[i + 1];
    else if (name === "r") rawText = fields[i + 1];
  }
  if (id === undefined || meta === undefined) return null;
  try {
    // Copied from its ingest entry (lua/settle.lua): the body as it was built to be sent. An entry
    // gone before it could be copied leaves the record without one.
    if (body === undefined && eventText !== undefined) {
      const json = joinEventJson(eventText, gatewayText);
      body = payloadJson(JSON.parse(json) as { type: string; occurredAt: string }, json, rawText);
    }
    const [tenant, endpointId, status, durationMs, readAt, finishedAt] = JSON.parse(meta) as unknown[];
    if (typeof tenant !== "string" || typeof endpointId !== "string" || typeof status !== "number") return null;
    return {
      id,
      tenant,
      endpointId,
      body: body ?? "",
      status,
      durationMs: Number(durationMs) || 0,
      readAt: Number(readAt) || 0,
      finishedAt: Number(finishedAt) || 0,
      ...(traceparent !== undefined ? { traceparent } : {}),
    };
  } catch {
    return null;
  }
}

/** How many first-attempt deliveries partition `p`'s log holds. */
export async function countDelivered(redis: RedisClient, keys: RedisKeys, partition: number): Promise<number> {
  return redis.xlen(keys.delivered(partition));
}

/**
 * Partition `p`'s logged deliveries, newest first, from the `offset`th, at most `count`.
 *
 * @example
 * await readDelivered(redis, keys, 3, 0, 50); // the 50 newest
 */
export async function readDelivered(
  redis: RedisClient,
  keys: RedisKeys,
  partition: number,
  offset: number,
  count: number,
): Promise<DeliveredRecord[]> {
  if (count <= 0) return [];
  const entries = (await redis.xrevrange(keys.delivered(partition), "+", "-", "COUNT", offset + count)) as Array<
    [string, string[]]
  >;
  const out: DeliveredRecord[] = [];
  for (const [, fields] of entries.slice(offset)) {
    const record = parseDelivered(fields);
    if (record) out.push(record);
  }
  return out;
}

/** Pages of this many entries when a lookup walks a log. */
const LOOKUP_PAGE = 1_000;

/**
 * The logged delivery with this id in partition `p`, newest first (a
 * delivery sent twice, after a crash, shows its last send). The log has no
 * index by id: a lookup walks it, at most `DELIVERED_LOG_MAX` entries.
 */
export async function findDelivered(
  redis: RedisClient,
  keys: RedisKeys,
  partition: number,
  id: string,
): Promise<DeliveredRecord | null> {
  const key = keys.delivered(partition);
  let end = "+";
  for (;;) {
    const entries = (await redis.xrevrange(key, end, "-", "COUNT", LOOKUP_PAGE)) as Array<[string, string[]]>;
    for (const [, fields] of entries) {
      const at = fields.indexOf("i");
      if (at >= 0 && fields[at + 1] === id) return parseDelivered(fields);
    }
    if (entries.length < LOOKUP_PAGE) return null;
    end = `(${entries[entries.length - 1]![0]}`;
  }
}
