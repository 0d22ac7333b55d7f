import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { findTenant, type ImrelayConfig } from "@imrelay/config";
import {
  type DeliveryJobData,
  deliveryJobOptions,
  parseIngestEntry,
  type RedisKeys,
  type StreamEntry,
  within,
} from "@imrelay/store";
import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { type DeliveryJob, fanOut } from "./fan-out.js";
import type { WorkerMetrics } from "./metrics.js";

export interface DispatcherDeps {
  config: Pick<ImrelayConfig, "tenants" | "delivery">;
  /** For acks and claims; the blocking reads get their own duplicate of it. */
  redis: Redis;
  queue: Queue<DeliveryJobData, unknown, string>;
  keys: RedisKeys;
  logger: Logger;
  /** Where events an endpoint's filter turned away are counted. */
  metrics?: Pick<WorkerMetrics, "eventsFiltered">;
  /** This dispatcher's name in the consumer group. @default host-pid-random */
  consumer?: string;
  /** Entries pending this long with another consumer are taken over (it died). @default 30000 */
  claimIdleMs?: number;
  /** How often to look for such entries. @default 5000 */
  claimIntervalMs?: number;
  /** @default 256 */
  batchSize?: number;
  /** How long one read waits for new entries; close() waits at most this long. @default 1000 */
  blockMs?: number;
}

export interface IngestDispatcher {
  /** Creates the consumer group if needed and starts reading. */
  start(): Promise<void>;
  /** Finishes the batch in hand, stops reading, and leaves the group if it holds nothing pending. */
  close(): Promise<void>;
  readonly consumer: string;
}

type ReadReply = [stream: string, entries: StreamEntry[]][] | null;
type ClaimReply = [next: string, entries: StreamEntry[], deleted?: string[]];

/**
 * Moves events from the ingest stream to delivery jobs: one job per (event,
 * endpoint), added in one `addBulk` per batch, then the entries are acked and
 * deleted. A dispatcher that dies between the two leaves its entries pending;
 * another claims them after `claimIdleMs` and adds the same deterministic job
 * ids again, which BullMQ ignores — so an event is queued once, never lost.
 *
 * @example
 * const dispatcher = createDispatcher({ config, redis, queue, keys, logger });
 * await dispatcher.start();
 * await dispatcher.close();
 */
export function createDispatcher(deps: DispatcherDeps): IngestDispatcher {
  const { config, redis, queue, keys, logger } = deps;
  const consumer = deps.consumer ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const claimIdleMs = deps.claimIdleMs ?? 30_000;
  const claimIntervalMs = deps.claimIntervalMs ?? 5_000;
  const batchSize = deps.batchSize ?? 256;
  const blockMs = deps.blockMs ?? 1_000;
  const jobOptions = deliveryJobOptions(config.delivery);
  const log = logger.child({ stage: "dispatch", consumer });

  let blocking: Redis | undefined;
  let loop: Promise<void> | undefined;
  let stopping = false;
  let wake: (() => void) | undefined;

  async function ensureGroup(): Promise<void> {
    try {
      // From 0, not $: events the gateway queued before any worker ran must be delivered too.
      await redis.xgroup("CREATE", keys.ingest, keys.ingestGroup, "0", "MKSTREAM");
    } catch (err) {
      if (!String((err as Error).message).includes("BUSYGROUP")) throw err;
    }
  }

  async function dispatch(entries: StreamEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const jobs: DeliveryJob[] = [];
    for (const entry of entries) {
      const parsed = parseIngestEntry(entry);
      if (!parsed.ok) {
        // An entry that cannot be read now never will be: keeping it would only block the group.
        if (parsed.reason !== "deleted")
          log.error({ entryId: entry[0], reason: parsed.reason }, "dropping unreadable ingest entry");
        continue;
      }
      const { event, raw, traceparent } = parsed;
      const tenant = findTenant(config, event.tenant);
      if (!tenant) {
        log.warn({ entryId: entry[0], tenant: event.tenant, eventId: event.id }, "dropping event of unknown tenant");
        continue;
      }
      const fanned = fanOut({ event, raw, traceparent, tenant, jobOptions });
      jobs.push(...fanned.jobs);
      for (const endpoint of fanned.filtered) deps.metrics?.eventsFiltered.inc({ tenant: event.tenant, endpoint });
    }
    if (jobs.length > 0) await queue.addBulk(jobs);
    const ids = entries.map(([id]) => id);
    const results = await redis
      .pipeline()
      .xack(keys.ingest, keys.ingestGroup, ...ids)
      .xdel(keys.ingest, ...ids)
      .exec();
    const failed = results?.find(([err]) => err);
    if (failed) throw failed[0];
    log.debug({ entries: entries.length, jobs: jobs.length }, "dispatched");
  }

  /** Takes over entries another (dead) consumer read and never acked. */
  async function claimIdle(): Promise<void> {
    let cursor = "0-0";
    // Bounded, so a huge backlog of orphans cannot starve fresh entries.
    for (let round = 0; round < 16 && !stopping; round++) {
      const [next, entries] = (await redis.call(
        "XAUTOCLAIM",
        keys.ingest,
        keys.ingestGroup,
        consumer,
        claimIdleMs,
        cursor,
        "COUNT",
        batchSize,
      )) as ClaimReply;
      if (entries.length > 0) {
        log.warn({ entries: entries.length }, "claimed ingest entries a stopped dispatcher left pending");
        await dispatch(entries);
      }
      if (next === "0-0") return;
      cursor = next;
    }
  }

  async function run(reader: Redis): Promise<void> {
    // After a failure, this consumer's own pending entries ("0") are read again before new ones (">").
    let ownPending = true;
    let lastClaim = 0;
    while (!stopping) {
      try {
        if (Date.now() - lastClaim >= claimIntervalMs) {
          lastClaim = Date.now();
          await claimIdle();
        }
        const id = ownPending ? "0" : ">";
        const block = ownPending ? [] : ["BLOCK", blockMs];
        const reply = (await reader.call(
          "XREADGROUP",
          "GROUP",
          keys.ingestGroup,
          consumer,
          "COUNT",
          batchSize,
          ...block,
          "STREAMS",
          keys.ingest,
          id,
        )) as ReadReply;
        const entries = reply?.[0]?.[1] ?? [];
        if (ownPending && entries.length === 0) ownPending = false;
        await dispatch(entries);
      } catch (err) {
        if (stopping) break;
        ownPending = true;
        if (String((err as Error).message).includes("NOGROUP")) {
          // A Redis that restarted without its data has the gateway's new stream but not our group.
          const recreated = await ensureGroup().then(
            () => true,
            () => false,
          );
          if (recreated) {
            log.warn("the ingest consumer group was gone (did Redis restart empty?); created it again");
            continue;
          }
        }
        log.error({ err }, "dispatching from the ingest stream failed; retrying in 1 s");
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 1_000);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
    }
  }

  return {
    consumer,
    async start() {
      if (loop) return;
      await ensureGroup();
      stopping = false;
      blocking = redis.duplicate();
      blocking.on("error", (err) => log.warn({ err: err.message }, "dispatcher redis connection error"));
      loop = run(blocking);
    },
    async close() {
      if (!loop) return;
      stopping = true;
      wake?.();
      // The batch in hand finishes; a read or a write stuck on a Redis outage must not hold shutdown
      // forever, and with Redis away nothing in hand can finish: its entries stay pending, and
      // another dispatcher claims them.
      const away = redis.status !== "ready" || blocking?.status !== "ready";
      const finished =
        !away &&
        (await within(
          loop.then(() => true),
          blockMs + 2_000,
        ));
      loop = undefined;
      blocking?.disconnect();
      blocking = undefined;
      // Leaving is tidiness: not worth waiting for a Redis that is away.
      if (!finished || redis.status !== "ready") return;
      try {
        // A consumer with nothing pending is only clutter in XINFO; one with pending entries stays for a claim.
        const leave = async () => {
          const pending = (await redis.xpending(keys.ingest, keys.ingestGroup, "-", "+", 1, consumer)) as unknown[];
          if (pending.length === 0) await redis.xgroup("DELCONSUMER", keys.ingest, keys.ingestGroup, consumer);
        };
        await within(leave(), 2_000);
      } catch (err) {
        log.warn({ err: (err as Error).message }, "could not leave the ingest consumer group");
      }
    },
  };
}
