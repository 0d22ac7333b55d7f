import { createHash } from "node:crypto";
import { type ImrelayEvent, toPayload } from "@imrelay/core";
import {
  type BatchQueue,
  createSettleEntries,
  DELIVERY_BATCH_ENTRIES_MAX,
  DELIVERY_BATCH_JOB_NAME,
  DELIVERY_BATCH_MAX,
  type DeliveredRecord,
  type DeliveryBatchData,
  type DeliveryJobData,
  holdWritesThisTurn,
  packBatch,
  type RedisClient,
  type RedisKeys,
  renewEntries,
  replicasAcked,
} from "@imrelay/store";
import type { JobsOptions, Queue } from "bullmq";
import type { Logger } from "pino";
import type { DeliveryJob, ParkedDelivery } from "./fan-out.js";
import type { FirstAttemptResult } from "./first-outcome.js";

export interface EntryAcksDeps {
  /** The connection the delivery queues write on (`WAIT` counts its writes). */
  redis: RedisClient;
  keys: RedisKeys;
  /** Partition `p`'s delivery queue at index p. */
  queues: ReadonlyArray<Queue<DeliveryJobData, unknown, string>>;
  /** Partition `p`'s queue of batches at index p (`createBatchQueues`). */
  batchQueues: readonly BatchQueue[];
  logger: Logger;
  consumer: string;
  /** `redis.replicaAcks`: jobs must reach this many replicas before their entries are acked. */
  replicaAcks: number;
  replicaTimeoutMs: number;
}

interface Held {
  /** Deliveries of the entry not settled yet. */
  left: number;
}

interface PartitionBuffer {
  /** Entries whose first attempts are out: never acked before every one is settled. */
  held: Map<string, Held>;
  jobs: QueuedJob[];
  /**
   * Deliveries not attempted here (for the queue, in batches per endpoint) of entries still held:
   * each waits for its entry's other deliveries, so that its batch can refer to the entry.
   */
  spilled: Map<string, Spill[]>;
  /** Spills whose entries are settled otherwise (in `spillHeld`): these make the next batches. */
  ready: Spill[];
  /** Entries all of whose deliveries are settled, acked once their spills are written as jobs. */
  spillHeld: Set<string>;
  /** Entries to ack and keep in the stream: a batch written before them refers to them. */
  keeps: string[];
  /** Entries whose acks are being written. */
  writing: Set<string>;
  records: DeliveredRecord[];
  acks: string[];
  flushing: Promise<void> | undefined;
  /** Set after a failed flush: the next waits this long, so an outage is not a busy loop. */
  retryAt: number;
  /** When the oldest ready spill not yet written became ready (Date.now()). */
  spillSince: number;
  spillTimer: NodeJS.Timeout | undefined;
}

/** Up to this many jobs are added with one command each rather than one `addBulk`. */
const FEW_JOBS = 8;

/**
 * How long a slow endpoint's spilled deliveries wait for more of their kind, to go to the queue as
 * one batch job. A batch job costs the worker a few tenths of a millisecond (its add, its take,
 * its end) whatever its size: each partition writing one per slow endpoint each linger (or per
 * `DELIVERY_BATCH_ENTRIES_MAX` deliveries, sooner), a slow endpoint costs the others at most 16
 * batches a second with 16 partitions, or one per thousand of its deliveries. Its deliveries wait
 * this long more, beside answers that take `SLOW_ENDPOINT_MS` or more.
 */
export const SPILL_LINGER_MS = 1_000;

/**
 * The ingest entries a dispatcher holds while their first attempts are out,
 * and the writes that let them go: the jobs of failed attempts (`addBulk`,
 * then `WAIT` for `redis.replicaAcks`), the log of delivered ones, the
 * entries' `XACK` + `XDEL` — whatever settled meanwhile, in one go per
 * partition, so a busy partition writes a batch per round trip. An entry is
 * acked only once each of its deliveries is delivered or safely a job: a
 * worker that dies before leaves the entry pending, and it is sent again
 * (at least once).
 *
 * Entries held this way are pending in the consumer group; `renew` resets
 * their idle time, so a live dispatcher's slow deliveries are not claimed by
 * another as a dead one's would be.
 */
export function createEntryAcks(deps: EntryAcksDeps) {
  const { redis, keys, queues, batchQueues, logger, consumer, replicaAcks, replicaTimeoutMs } = deps;
  const settleEntries = createSettleEntries({ redis, keys });
  const buffers = new Map<number, PartitionBuffer>();
  const drained: Array<() => void> = [];
  let stopped = false;
  /** Set while something waits for everything to be written (a close, a hand-back): spills linger no more. */
  let forced = false;

  function buffer(p: number): PartitionBuffer {
    let b = buffers.get(p);
    if (!b) {
      b = {
        held: new Map(),
        jobs: [],
        spilled: new Map(),
        ready: [],
        spillHeld: new Set(),
        keeps: [],
        writing: new Set(),
        records: [],
        acks: [],
        flushing: undefined,
        retryAt: 0,
        spillSince: 0,
        spillTimer: undefined,
      };
      buffers.set(p, b);
    }
    return b;
  }

  const busy = () =>
    [...buffers.values()].some(
      (b) =>
        b.held.size > 0 ||
        b.flushing ||
        b.jobs.length > 0 ||
        b.ready.length > 0 ||
        b.spillHeld.size > 0 ||
        b.acks.length > 0 ||
        b.keeps.length > 0 ||
        b.records.length > 0,
    );

  /**
   * Adds the jobs to partition `p`'s queues (a batch to its batch queue) and, with `redis.replicaAcks`, waits for that many
   * replicas to have them; throws when they do not, so the entries behind them stay pending.
   */
  async function addJobs(p: number, jobs: readonly QueuedJob[]): Promise<void> {
    if (jobs.length === 0) return;
    const own: DeliveryJob[] = [];
    const batches: BatchJob[] = [];
    for (const job of jobs) {
      if (job.name === DELIVERY_BATCH_JOB_NAME) batches.push(job);
      else own.push(job);
    }
    await Promise.all([add(queues[p]!, own), add(batchQueues[p]!, batches)]);
    if (replicaAcks === 0) return;
    const acked = await replicasAcked(redis, keys.ingest(p), replicaAcks, replicaTimeoutMs);
    if (acked < replicaAcks) {
      throw new Error(
        `only ${acked} of ${replicaAcks} replicas confirmed the delivery jobs within ${replicaTimeoutMs} ms (redis.replicaAcks)`,
      );
    }
  }

  function add(queue: Queue, jobs: readonly QueuedJob[]): Promise<unknown> {
    // A few jobs are added one by one: BullMQ's addBulk makes an ioredis pipeline, which copies
    // every script BullMQ defines on the connection (a tenth of a millisecond each time).
    if (jobs.length <= FEW_JOBS) return Promise.all(jobs.map((job) => queue.add(job.name, job.data, job.opts)));
    return queue.addBulk(jobs as Array<{ name: string; data: unknown; opts: JobsOptions }>);
  }

  async function write(
    p: number,
    jobs: QueuedJob[],
    records: DeliveredRecord[],
    acks: string[],
    keeps: string[],
  ): Promise<void> {
    await addJobs(p, jobs);
    await settleEntries(p, records, acks, { kept: keeps });
  }

  /**
   * One batch job per endpoint for up to `DELIVERY_BATCH_ENTRIES_MAX` of its spilled deliveries (`DELIVERY_BATCH_MAX` packed). A batch
   * refers to the entries of its deliveries (`entries`: no payload is copied) when each is settled
   * otherwise and has no other spill (such a spill keeps no job: a lone one is a batch of one);
   * the rest carry their payloads (`packed`), and a lone one of those stays a job of its own. The
   * spills of entries still held wait for them (`b.spilled`), unless everything must be written now
   * (`forced`). A batch's id comes from its deliveries' ids, so a re-dispatch adds it once.
   */
  function batched(p: number, b: PartitionBuffer): { jobs: QueuedJob[]; referred: Set<string> } {
    const taken = b.ready;
    b.ready = [];
    if (forced) {
      for (const spills of b.spilled.values()) taken.push(...spills);
      b.spilled.clear();
    }
    const byEndpoint = new Map<string, Spill[]>();
    for (const spill of taken) {
      const key = `${spill.tenant}\n${spill.endpointId}\n${spill.raw}`;
      const list = byEndpoint.get(key);
      if (list) list.push(spill);
      else byEndpoint.set(key, [spill]);
    }
    // A spill taken while its entry is held (forced) is written with its payload.
    const referable = (spill: Spill) => spill.single && !b.held.has(spill.entry);
    const jobs: QueuedJob[] = [];
    const referred = new Set<string>();
    for (const list of byEndpoint.values()) {
      // One that kept its job (its entry has other spills, or is still held) stays a job of its own.
      if (list.length === 1 && list[0]!.job) {
        jobs.push(jobOf(list[0]!));
        continue;
      }
      const refs = list.filter(referable);
      const rest = refs.length === list.length ? [] : list.filter((spill) => !referable(spill));
      for (const chunk of chunks(refs, DELIVERY_BATCH_ENTRIES_MAX)) {
        for (const spill of chunk) referred.add(spill.entry);
        const { raw } = chunk[0]!;
        jobs.push(batchJob(p, chunk, { entries: chunk.map((spill) => spill.entry), ...(raw ? { raw } : {}) }));
      }
      for (const chunk of chunks(rest, DELIVERY_BATCH_MAX)) {
        jobs.push(
          batchJob(p, chunk, {
            packed: packBatch(
              chunk.map((spill) => {
                // Not referable, so never dropped its job.
                const { opts, data, body } = jobOf(spill);
                return {
                  id: opts.jobId,
                  body: body ?? JSON.stringify(toPayload(data.event as unknown as ImrelayEvent)),
                  ...(data.traceparent !== undefined ? { traceparent: data.traceparent } : {}),
                };
              }),
            ),
          }),
        );
      }
    }
    return { jobs, referred };
  }

  /** Spills are written once an endpoint's batch is full, or they have waited this long. */
  const spillDue = (b: PartitionBuffer) =>
    forced
      ? b.ready.length > 0 || b.spilled.size > 0
      : b.ready.length > 0 &&
        (b.ready.length >= DELIVERY_BATCH_ENTRIES_MAX || Date.now() - b.spillSince >= SPILL_LINGER_MS);

  function flush(p: number): void {
    if (stopped) return;
    const b = buffer(p);
    // An entry waiting for its spills to become a batch waits in `spillHeld`; the others' acks go now.
    const ready = b.jobs.length > 0 || b.records.length > 0 || b.acks.length > 0 || spillDue(b);
    if (b.flushing || !ready) {
      if (!b.flushing && b.ready.length > 0 && !b.spillTimer) {
        // Lingering spills make a batch; they are written when their time is up, whatever else comes.
        b.spillTimer = setTimeout(() => {
          b.spillTimer = undefined;
          flush(p);
        }, SPILL_LINGER_MS);
      }
      // Asked only while something waits: `busy` looks at every partition, and this runs per settle.
      if (drained.length > 0 && !busy()) {
        // Everything is written: spills linger again to make batches, and a lone one goes by reference.
        forced = false;
        for (const resolve of drained.splice(0)) resolve();
      }
      return;
    }
    const wait = Math.max(0, b.retryAt - Date.now());
    b.flushing = (async () => {
      // One tick's worth of settled deliveries go together.
      await new Promise((resolve) => (wait > 0 ? setTimeout(resolve, wait) : setImmediate(resolve)));
      if (stopped) return;
      if (spillDue(b)) {
        // Made into jobs once: a retried write adds the very same batches (same ids), never a regrouping.
        const { jobs, referred } = batched(p, b);
        b.jobs.push(...jobs);
        // Written in the same go, after the jobs: acking them is safe once the write succeeds. Every
        // spill of these entries was ready, so is in a job now.
        for (const id of b.spillHeld) (referred.has(id) ? b.keeps : b.acks).push(id);
        b.spillHeld.clear();
        clearTimeout(b.spillTimer);
        b.spillTimer = undefined;
      }
      const jobs = b.jobs.splice(0);
      const records = b.records.splice(0);
      const acks = b.acks.splice(0);
      const keeps = b.keeps.splice(0);
      for (const id of acks) b.writing.add(id);
      for (const id of keeps) b.writing.add(id);
      // Every partition's writes of this turn (and the dispatcher's acks in the next poll) go in one write.
      holdWritesThisTurn(redis);
      try {
        await write(p, jobs, records, acks, keeps);
        b.retryAt = 0;
      } catch (err) {
        // Kept, in order, for the next try; the entries stay pending meanwhile.
        b.jobs.unshift(...jobs);
        b.records.unshift(...records);
        b.acks.unshift(...acks);
        b.keeps.unshift(...keeps);
        b.retryAt = Date.now() + 1_000;
        logger.error(
          { err, partition: p, jobs: jobs.length, acks: acks.length },
          "recording settled deliveries failed; retrying in 1 s (their entries stay pending)",
        );
      } finally {
        for (const id of acks) b.writing.delete(id);
        for (const id of keeps) b.writing.delete(id);
      }
    })().finally(() => {
      b.flushing = undefined;
      flush(p);
    });
  }

  /** Waits with its entry's other spills for the entry's other deliveries (`settled`). */
  function spill(b: PartitionBuffer, one: Spill): void {
    const spills = b.spilled.get(one.entry);
    if (spills) spills.push(one);
    else b.spilled.set(one.entry, [one]);
  }

  /** One of entry `id`'s deliveries is settled: once all are, it is acked, or waits for its spills' batch. */
  function settled(p: number, b: PartitionBuffer, id: string): void {
    const held = b.held.get(id);
    if (held && --held.left <= 0) {
      b.held.delete(id);
      const spills = b.spilled.get(id);
      if (spills === undefined) b.acks.push(id);
      else {
        b.spilled.delete(id);
        b.spillHeld.add(id);
        if (b.ready.length === 0) b.spillSince = Date.now();
        // An entry with two spills is referred to by neither (the first sent would delete it).
        for (const one of spills) {
          one.single = spills.length === 1;
          // Written by reference now, whatever else lingers with it: the event need not wait with it.
          // (Not while everything is being written at once, a hand-back: a lone one is then its own job.)
          if (one.single && !forced) one.job = undefined;
        }
        b.ready.push(...spills);
      }
    }
    flush(p);
  }

  return {
    /** Entry `id` of partition `p` has `count` first attempts out. */
    hold(p: number, id: string, count: number): void {
      buffer(p).held.set(id, { left: count });
    },
    /** Is this entry already in hand (its own pending entries are read again after a failure)? */
    holds(p: number, id: string): boolean {
      const b = buffers.get(p);
      return Boolean(
        b &&
          (b.held.has(id) || b.writing.has(id) || b.spillHeld.has(id) || b.acks.includes(id) || b.keeps.includes(id)),
      );
    },
    addJobs,
    /** One of entry `id`'s deliveries is settled: delivered, to be queued, or spilled. */
    settle(p: number, id: string, result: FirstAttemptResult): void {
      const b = buffer(p);
      if (result.kind === "delivered") {
        // The entry is still in the stream when its record is written (records go before acks).
        if (result.record.fromEntry) result.record.entry = id;
        b.records.push(result.record);
      } else if (result.kind === "queue") b.jobs.push(result.job);
      else {
        const { job } = result;
        const { tenant, endpointId, event } = job.data;
        spill(b, { job, id: job.opts.jobId, tenant, endpointId, raw: "raw" in event, entry: id, single: true });
      }
      settled(p, b, id);
    },
    /** One of entry `id`'s deliveries goes to its parked endpoint's batches, with no attempt here. */
    park(p: number, id: string, tenant: string, delivery: ParkedDelivery): void {
      const b = buffer(p);
      const { endpointId, raw, job } = delivery;
      spill(b, { job, id: delivery.id, tenant, endpointId, raw, entry: id, single: true });
      settled(p, b, id);
    },
    /**
     * Resets the idle time of every entry in hand, so no other dispatcher claims them; one that
     * another has claimed meanwhile (this one paused past `claimIdleMs`) stays with it.
     */
    async renew(): Promise<void> {
      await Promise.all(
        [...buffers].map(async ([p, b]) => {
          const ids = [...b.held.keys(), ...b.spillHeld, ...b.acks, ...b.keeps, ...b.writing];
          if (ids.length === 0) return;
          await renewEntries(redis, keys, p, consumer, ids);
        }),
      );
    },
    /** Resolves once nothing is held, buffered or being written. */
    drained(): Promise<void> {
      if (stopped || !busy()) return Promise.resolve();
      forced = true;
      for (const p of buffers.keys()) flush(p);
      return new Promise<void>((resolve) => drained.push(resolve));
    },
    /**
     * Writes nothing more: what is still in hand stays pending in the group,
     * for another dispatcher to claim (a shutdown that could not wait for it).
     */
    stop(): void {
      stopped = true;
      for (const b of buffers.values()) clearTimeout(b.spillTimer);
      for (const resolve of drained.splice(0)) resolve();
    },
    /** How many entries are in hand. */
    size: () =>
      [...buffers.values()].reduce(
        (n, b) => n + b.held.size + b.spillHeld.size + b.acks.length + b.keeps.length + b.writing.size,
        0,
      ),
    /**
     * How much is settled and not written yet: while writes fail (a replica short, Redis away)
     * this grows, and the dispatcher stops reading until it is down again. Spills lingering to
     * make a batch (and the entries waiting for them) are left out while a partition's writes
     * succeed: they are bounded by the batch size and the linger, not a sign of trouble.
     */
    backlog: () =>
      [...buffers.values()].reduce(
        (n, b) =>
          n +
          b.jobs.length +
          b.records.length +
          b.acks.length +
          b.keeps.length +
          (b.retryAt > 0 ? b.ready.length + b.spillHeld.size : 0),
        0,
      ),
  };
}

export type EntryAcks = ReturnType<typeof createEntryAcks>;

interface BatchJob {
  name: typeof DELIVERY_BATCH_JOB_NAME;
  data: DeliveryBatchData;
  opts: JobsOptions & { jobId: string };
}

/** What is written to the queue: a delivery's own job, or a batch. */
type QueuedJob = DeliveryJob | BatchJob;

/** A delivery of entry `entry` not attempted here. `single`: the entry has no other spill. */
interface Spill {
  /**
   * Dropped once the spill can only go by reference (its entry otherwise settled, no other spill):
   * it may linger `SPILL_LINGER_MS` for its batch, and what it held of the event need not. A
   * parked delivery's is made only if it is written as a job of its own or packed (`jobOf`).
   */
  job: DeliveryJob | (() => DeliveryJob) | undefined;
  /** Its delivery's id (the job's). */
  id: string;
  tenant: string;
  endpointId: string;
  /** Its event carries the vendor's raw copy (an includeRaw endpoint's). */
  raw: boolean;
  entry: string;
  single: boolean;
}

/** A spill's job, made now if it was parked (never asked of one that dropped its job). */
function jobOf(spill: Spill): DeliveryJob {
  const { job } = spill;
  return typeof job === "function" ? job() : job!;
}

/** Runs of `max` at most. */
function chunks<T>(list: readonly T[], max: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += max) out.push(list.slice(i, i + max));
  return out;
}

/**
 * A batch job of one endpoint's spills. Gone once done: its deliveries are in the delivered log,
 * or jobs of their own. Its id comes from its deliveries, so a write retried after a partial
 * failure adds it once.
 */
function batchJob(
  partition: number,
  chunk: readonly Spill[],
  deliveries: Pick<DeliveryBatchData, "entries" | "raw" | "packed">,
): BatchJob {
  const { tenant, endpointId } = chunk[0]!;
  const ids = chunk.map((spill) => spill.id).join("\n");
  return {
    name: DELIVERY_BATCH_JOB_NAME,
    data: { tenant, endpointId, partition, ...deliveries },
    opts: {
      jobId: `batch.${createHash("sha256").update(ids).digest("hex").slice(0, 32)}`,
      ...BATCH_JOB_OPTIONS,
    },
  };
}

/**
 * A batch fails only while Redis does (its deliveries' failures become jobs of their own): it is
 * tried again every 5 s for about ten minutes, and what is left of it after that becomes jobs of
 * its own (worker.ts), so no delivery is stranded in it.
 */
export const BATCH_JOB_OPTIONS = {
  attempts: 120,
  backoff: { type: "fixed", delay: 5_000 },
  removeOnComplete: true,
  removeOnFail: false,
} as const;
