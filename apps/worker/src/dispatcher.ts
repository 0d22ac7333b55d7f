import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { type EndpointConfig, findTenant, type ImrelayConfig } from "@imrelay/config";
import {
  allPartitions,
  type BatchQueue,
  type DeliveryJobData,
  deliveryJobOptions,
  disabledEndpointFields,
  disabledField,
  parseIngestEntry,
  type RedisClient,
  type RedisKeys,
  type StreamEntry,
  within,
} from "@imrelay/store";
import type { Queue } from "bullmq";
import type { Logger } from "pino";
import { createEntryAcks } from "./entry-acks.js";
import { type DeliveryJob, fanOut, type ParkedDelivery, type Route } from "./fan-out.js";
import type { FirstAttempts } from "./first-attempts.js";
import type { WorkerMetrics } from "./metrics.js";

export interface DispatcherDeps {
  config: Pick<ImrelayConfig, "tenants" | "delivery"> & { redis?: Pick<ImrelayConfig["redis"], "replicaAcks"> };
  /**
   * For acks, claims and `WAIT`: the connection the delivery queues write on
   * (WAIT counts the writes of its own connection). The blocking reads get
   * duplicates of it, one per partition.
   */
  redis: RedisClient;
  /** The delivery queue of each partition read, by partition (`createDeliveryQueues`). */
  queues: ReadonlyArray<Queue<DeliveryJobData, unknown, string>>;
  /** The batch queue of each partition, by partition (`createBatchQueues`): a slow endpoint's overflow. */
  batchQueues: readonly BatchQueue[];
  keys: RedisKeys;
  logger: Logger;
  /** Where events an endpoint's filter turned away are counted. */
  metrics?: Pick<WorkerMetrics, "eventsFiltered">;
  /** The partitions whose streams this dispatcher reads. @default every partition */
  partitions?: readonly number[];
  /** This dispatcher's name in the consumer groups. @default host-pid-random */
  consumer?: string;
  /**
   * Sends first attempts straight from the stream (first-attempts.ts); only
   * failures, rate-limited and disabled endpoints' deliveries become jobs.
   * @default none: every delivery becomes a job
   */
  firstAttempts?: FirstAttempts;
  /**
   * Entries pending this long with another consumer are taken over (it died);
   * the entries a live dispatcher holds are renewed well before.
   * @default 30000
   */
  claimIdleMs?: number;
  /** How often to look for such entries. @default 5000 */
  claimIntervalMs?: number;
  /** @default 256 */
  batchSize?: number;
  /** How long one read waits for new entries; close() waits at most this long. @default 1000 */
  blockMs?: number;
  /** How long `WAIT` waits for `redis.replicaAcks` replicas to have a batch's jobs. @default 1000 */
  replicaTimeoutMs?: number;
  /**
   * After a batch smaller than half of `batchSize`, how long a partition's loop
   * waits before reading again, so that under a steady flow entries are handed
   * off in batches rather than one or two at a time (each hand-off costs
   * several round trips). The first event after a quiet spell waits for
   * nothing. @default 10
   */
  lingerMs?: number;
}

export interface IngestDispatcher {
  /** Creates the consumer groups if needed and starts reading. */
  start(): Promise<void>;
  /**
   * Stops reading, lets the first attempts in flight finish and records them,
   * and leaves each group it holds nothing pending in.
   */
  close(): Promise<void>;
  readonly consumer: string;
  /** The ids of the deliveries whose first attempt is in flight here. */
  inFlight(): string[];
  /**
   * Turns the first attempts in flight into jobs (no attempt counted) and
   * acks their entries, so another worker sends them at once; resolves with
   * their ids once that is written.
   */
  handBack(): Promise<string[]>;
}

type ReadReply = [stream: string, entries: StreamEntry[]][] | null;
type ClaimReply = [next: string, entries: StreamEntry[], deleted?: string[]];

/** Settled deliveries and acks not yet written, across partitions, past which a dispatcher stops reading. */
const UNWRITTEN_MAX = 2_048;

/**
 * Entries a read waiting on an empty stream takes at most, with first attempts: it holds no room
 * (`FirstAttempts.room`), so this bounds what quiet partitions, woken together by a burst, read
 * past it; the next reads, with room, take the rest.
 */
const QUIET_READ_MAX = 16;

/** How long one partition's read and dispatch may hold the read-ahead room (a few ms when Redis answers). */
const ROOM_HELD_MAX_MS = 1_000;

/** How often a failing partition's error is logged at most, so an outage says so without a line per partition per second. */
const ERROR_LOG_EVERY_MS = 10_000;

/**
 * Moves events from the partitions' ingest streams to delivery jobs: one job
 * per (event, endpoint), added to the partition's own queue in one `addBulk`
 * per batch, then the entries are acked and deleted. A dispatcher that dies
 * between the two leaves its entries pending; another claims them after
 * `claimIdleMs` and adds the same deterministic job ids again, which BullMQ
 * ignores — so an event is queued once, never lost. With `redis.replicaAcks`,
 * the entries are acked only once that many replicas have the jobs, so a
 * failover of the partition's master loses no event either.
 *
 * Each partition is read by a loop of its own on a connection of its own:
 * on a Redis Cluster, one XREADGROUP may name only streams of one slot.
 *
 * @example
 * const dispatcher = createDispatcher({ config, redis, queues, keys, logger });
 * await dispatcher.start();
 * await dispatcher.close();
 */
export function createDispatcher(deps: DispatcherDeps): IngestDispatcher {
  const { config, redis, queues, batchQueues, keys, logger } = deps;
  const consumer = deps.consumer ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const partitions = deps.partitions ?? allPartitions(keys);
  const claimIdleMs = deps.claimIdleMs ?? 30_000;
  const claimIntervalMs = deps.claimIntervalMs ?? 5_000;
  const batchSize = deps.batchSize ?? 256;
  const blockMs = deps.blockMs ?? 1_000;
  const replicaAcks = config.redis?.replicaAcks ?? 0;
  const replicaTimeoutMs = deps.replicaTimeoutMs ?? 1_000;
  const lingerMs = deps.lingerMs ?? 10;
  const jobOptions = deliveryJobOptions(config.delivery);
  const log = logger.child({ stage: "dispatch", consumer });
  const first = deps.firstAttempts;
  const acks = createEntryAcks({
    redis,
    keys,
    queues,
    batchQueues,
    logger: log,
    consumer,
    replicaAcks,
    replicaTimeoutMs,
  });

  const readers: RedisClient[] = [];
  let loops: Promise<void>[] = [];
  let stopping = false;
  let renewTimer: NodeJS.Timeout | undefined;
  const wakes = new Set<() => void>();
  let lastErrorLog = 0;

  async function ensureGroup(p: number): Promise<void> {
    try {
      // From 0, not $: events the gateway queued before any worker ran must be delivered too.
      await redis.xgroup("CREATE", keys.ingest(p), keys.ingestGroup, "0", "MKSTREAM");
    } catch (err) {
      if (!String((err as Error).message).includes("BUSYGROUP")) throw err;
    }
  }

  /**
   * Where a delivery read here goes: out straight from the stream, unless it must wait its turn at
   * a rate limit or the endpoint is disabled (the queue turns those into dead letters); to its
   * batches at once when the endpoint is parked (a send apiece would only spill them).
   */
  function route(first: FirstAttempts, disabled: ReadonlySet<string>) {
    // Asked once per endpoint per batch: nothing it depends on changes while a batch is fanned out
    // (the loop does not wait), and a slow endpoint's every delivery would otherwise ask again.
    const routes = new Map<string, Map<EndpointConfig, Route>>();
    return (tenant: string, endpoint: EndpointConfig): Route => {
      let ofTenant = routes.get(tenant);
      if (!ofTenant) {
        ofTenant = new Map();
        routes.set(tenant, ofTenant);
      }
      let to = ofTenant.get(endpoint);
      if (to !== undefined) return to;
      if (!endpoint.enabled || endpoint.rateLimit !== undefined || disabled.has(disabledField(tenant, endpoint.id)))
        to = "queue";
      else to = first.parked(tenant, endpoint.id) ? "park" : "send";
      ofTenant.set(endpoint, to);
      return to;
    };
  }

  /**
   * `viaQueue`: entries another dispatcher had (claimed from a dead one) or this one read before a
   * failure may have their jobs queued already; through the queue their job ids collapse, where a
   * first attempt sent here would send them a second time.
   */
  async function dispatch(
    p: number,
    entries: StreamEntry[],
    viaQueue = false,
    disabled?: Promise<Set<string>>,
  ): Promise<void> {
    if (entries.length === 0) return;
    const stream = keys.ingest(p);
    const readAt = Date.now();
    const queued: DeliveryJob[] = [];
    const direct: Array<{ entry: string; tenant: string; jobs: DeliveryJob[]; parked: ParkedDelivery[] }> = [];
    // One read of the run-time disabled set per batch (`disabled`: made beside the entries' read): a disable stops the next batch.
    const routed =
      first && !viaQueue ? route(first, await (disabled ?? disabledEndpointFields(redis, keys))) : undefined;
    const done: string[] = [];
    for (const entry of entries) {
      // Its own pending entries are read again after a failure: those whose deliveries are out stay
      // as they are. A new entry (`>`) is in hand only if Redis lost what it had handed out (a
      // restart from an older snapshot, a failover to a replica that missed the read): looked for
      // only when it is not newer than every entry this partition has had in hand.
      if (viaQueue ? acks.holds(p, entry[0]) : acks.holdsAtOnce(p, entry[0])) continue;
      done.push(entry[0]);
      const parsed = parseIngestEntry(entry);
      if (!parsed.ok) {
        // An entry that cannot be read now never will be: keeping it would only block the group.
        if (parsed.reason !== "deleted")
          log.error({ partition: p, entryId: entry[0], reason: parsed.reason }, "dropping unreadable ingest entry");
        continue;
      }
      const { event, raw, traceparent, json, rawJson } = parsed;
      const tenant = findTenant(config, event.tenant);
      if (!tenant) {
        log.warn(
          { partition: p, entryId: entry[0], tenant: event.tenant, eventId: event.id },
          "dropping event of unknown tenant",
        );
        continue;
      }
      // The payload text is built from the stream's only for first attempts sent here.
      const fanned = fanOut({
        event,
        raw,
        traceparent,
        tenant,
        jobOptions,
        ...(first ? { json, rawJson } : {}),
        route: routed,
      });
      for (const endpoint of fanned.filtered) deps.metrics?.eventsFiltered.inc({ tenant: event.tenant, endpoint });
      queued.push(...fanned.jobs);
      const { sends, parked } = fanned;
      if (sends.length > 0 || parked.length > 0) {
        done.pop();
        direct.push({ entry: entry[0], tenant: event.tenant, jobs: sends, parked });
      }
    }
    // When it throws (replicas short), the entries stay pending with this consumer and are handed off again (same job ids).
    await acks.addJobs(p, queued);
    // First attempts go out once what the entries queued is safe; each entry is acked when its last one settles.
    for (const { entry, tenant, jobs, parked } of direct) {
      // A batch refers to the entry (one that carries payloads makes its jobs then).
      acks.hold(p, entry, jobs.length, parked.length > 0 ? { tenant, deliveries: parked } : undefined);
      for (const job of jobs) {
        void first!.send(job, readAt).then((result) => acks.settle(p, entry, result));
      }
    }
    if (done.length > 0) {
      // Two plain commands, not a pipeline: a pipeline on this connection copies BullMQ's scripts.
      await Promise.all([redis.xack(stream, keys.ingestGroup, ...done), redis.xdel(stream, ...done)]);
    }
    log.debug({ partition: p, entries: entries.length, queued: queued.length, direct: direct.length }, "dispatched");
  }

  /** The disabled set, read now for a dispatch to come (a failure surfaces there, not as an unhandled rejection). */
  function disabledBeside(): Promise<Set<string>> {
    const disabled = disabledEndpointFields(redis, keys);
    disabled.catch(() => {});
    return disabled;
  }

  /** Takes over entries another (dead) consumer read and never acked. */
  async function claimIdle(p: number): Promise<void> {
    let cursor = "0-0";
    // Bounded, so a huge backlog of orphans cannot starve fresh entries.
    for (let round = 0; round < 16 && !stopping; round++) {
      const [next, entries] = (await redis.call(
        "XAUTOCLAIM",
        keys.ingest(p),
        keys.ingestGroup,
        consumer,
        claimIdleMs,
        cursor,
        "COUNT",
        batchSize,
      )) as ClaimReply;
      if (entries.length > 0) {
        log.warn({ partition: p, entries: entries.length }, "claimed ingest entries a stopped dispatcher left pending");
        await dispatch(p, entries, true);
      }
      if (next === "0-0") return;
      cursor = next;
    }
  }

  async function run(p: number, reader: RedisClient): Promise<void> {
    const stream = keys.ingest(p);
    // After a failure, this consumer's own pending entries ("0") are read again before new ones (">").
    let ownPending = true;
    // Where the reading of its own pending entries has got to: those in hand are passed over, not read again and again.
    let pendingFrom = "0";
    let lastClaim = 0;
    // The last read found fewer entries than it asked for: the next one most likely waits.
    let caughtUp = false;
    while (!stopping) {
      try {
        if (Date.now() - lastClaim >= claimIntervalMs) {
          lastClaim = Date.now();
          await claimIdle(p);
        }
        const id = ownPending ? pendingFrom : ">";
        const read = (count: number, wait: boolean) =>
          reader.call(
            "XREADGROUP",
            "GROUP",
            keys.ingestGroup,
            consumer,
            "COUNT",
            count,
            ...(wait ? ["BLOCK", blockMs] : []),
            "STREAMS",
            stream,
            id,
          ) as Promise<ReadReply>;
        // While settled deliveries cannot be written (a replica short, Redis failing), read no more:
        // what is unwritten would only grow.
        while (first && !stopping && acks.backlog() > UNWRITTEN_MAX) await sleep(50);
        // With first attempts sent here, read no more than there is room for: the backlog stays in Redis.
        const count = first ? await first.room(batchSize) : batchSize;
        if (count === 0) continue;
        // The room is held until what is read with it is dispatched (counted as sends waiting), or
        // for ROOM_HELD_MAX_MS at most: a read or a write stuck on this partition (its master failing
        // over) must not stop the other partitions' reads.
        let held = first ? count : 0;
        const letGo = first
          ? setTimeout(() => {
              first.release(held);
              held = 0;
            }, ROOM_HELD_MAX_MS)
          : undefined;
        let entries: StreamEntry[];
        try {
          // A read that waits for the next entries holds no room a busy partition needs, and takes a
          // few only, so quiet partitions woken together overshoot little. A partition that had more
          // than its last read took is read without waiting, on the room; one that had less waits at once.
          let asked = count;
          let waited = false;
          const quiet = () => {
            first?.release(held);
            held = 0;
            waited = true;
            asked = Math.min(count, QUIET_READ_MAX);
            return read(asked, true);
          };
          // A read that does not wait has the disabled set read beside it, not after it: one round
          // trip less before its sends go out, and the set is as fresh as the entries.
          const beside = first && !ownPending && !caughtUp ? disabledBeside() : undefined;
          let reply = first && !ownPending && caughtUp ? await quiet() : await read(count, !ownPending && !first);
          if (first && !ownPending && !reply) reply = await quiet();
          entries = reply?.[0]?.[1] ?? [];
          caughtUp = entries.length < asked;
          if (ownPending) {
            if (entries.length === 0) {
              ownPending = false;
              pendingFrom = "0";
            } else pendingFrom = entries[entries.length - 1]![0];
          }
          await dispatch(p, entries, ownPending, waited ? undefined : beside);
        } finally {
          clearTimeout(letGo);
          if (held > 0) first?.release(held);
        }
        if (entries.length > 0 && entries.length < count / 2 && lingerMs > 0 && !stopping) await sleep(lingerMs);
      } catch (err) {
        if (stopping) break;
        ownPending = true;
        pendingFrom = "0";
        if (String((err as Error).message).includes("NOGROUP")) {
          // A Redis that restarted without its data has the gateway's new stream but not our group.
          const recreated = await ensureGroup(p).then(
            () => true,
            () => false,
          );
          if (recreated) {
            log.warn(
              { partition: p },
              "the ingest consumer group was gone (did Redis restart empty?); created it again",
            );
            continue;
          }
        }
        if (Date.now() - lastErrorLog >= ERROR_LOG_EVERY_MS) {
          lastErrorLog = Date.now();
          log.error({ err, partition: p }, "dispatching from the ingest stream failed; retrying in 1 s");
        }
        await new Promise<void>((resolve) => {
          const wake = () => {
            clearTimeout(timer);
            wakes.delete(wake);
            resolve();
          };
          const timer = setTimeout(wake, 1_000);
          wakes.add(wake);
        });
      }
    }
  }

  return {
    consumer,
    async start() {
      if (loops.length > 0) return;
      await Promise.all(partitions.map((p) => ensureGroup(p)));
      stopping = false;
      if (first) {
        // Entries whose deliveries are out stay this consumer's: renewed well within claimIdleMs.
        renewTimer = setInterval(
          () => {
            acks.renew().catch((err: Error) => log.warn({ err: err.message }, "renewing the entries in hand failed"));
          },
          Math.max(100, Math.floor(claimIdleMs / 3)),
        );
        renewTimer.unref();
      }
      loops = partitions.map((p) => {
        const reader = redis.duplicate();
        reader.on("error", (err: Error) => {
          if (Date.now() - lastErrorLog < ERROR_LOG_EVERY_MS) return;
          lastErrorLog = Date.now();
          log.warn({ err: err.message }, "dispatcher redis connection error");
        });
        readers.push(reader);
        return run(p, reader);
      });
    },
    async close() {
      if (loops.length === 0) return;
      stopping = true;
      first?.stop();
      for (const wake of [...wakes]) wake();
      // The batches in hand finish; a read or a write stuck on a Redis outage must not hold shutdown
      // forever, and with Redis away nothing in hand can finish: its entries stay pending, and
      // another dispatcher claims them.
      const away = redis.status !== "ready" || readers.some((reader) => reader.status !== "ready");
      const inHand = first?.inFlight() ?? [];
      if (away && inHand.length > 0) {
        log.warn(
          { jobIds: inHand },
          `Redis is unavailable: ${inHand.length} deliveries in flight are left for another worker to take over once their lock runs out`,
        );
      }
      const finished =
        !away &&
        (await within(
          Promise.all(loops).then(() => true),
          blockMs + 2_000,
        ));
      loops = [];
      for (const reader of readers.splice(0)) reader.disconnect();
      // First attempts in flight finish and are recorded, as BullMQ lets its jobs in flight finish.
      const settled =
        finished &&
        (await within(
          (async () => {
            await first?.idle();
            await acks.drained();
            return true;
          })(),
          config.delivery.timeoutMs + 2_000,
        ));
      clearInterval(renewTimer);
      acks.stop();
      // Leaving is tidiness: not worth waiting for a Redis that is away.
      if (!settled || redis.status !== "ready") return;
      try {
        // A consumer with nothing pending is only clutter in XINFO; one with pending entries stays for a claim.
        const leave = async (p: number) => {
          const stream = keys.ingest(p);
          const pending = (await redis.xpending(stream, keys.ingestGroup, "-", "+", 1, consumer)) as unknown[];
          if (pending.length === 0) await redis.call("XGROUP", "DELCONSUMER", stream, keys.ingestGroup, consumer);
        };
        await within(Promise.all(partitions.map(leave)), 2_000);
      } catch (err) {
        log.warn({ err: (err as Error).message }, "could not leave the ingest consumer group");
      }
    },
    inFlight: () => first?.inFlight() ?? [],
    async handBack() {
      const ids = first?.handBackAll() ?? [];
      if (ids.length > 0) await acks.drained();
      return ids;
    },
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
