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
  /**
   * Its deliveries not attempted here (for the queue, in batches per endpoint): they wait for the
   * entry's other deliveries, so that their batch can refer to the entry. Cleared when taken: a
   * Map's table left behind by a resize still points at the entry's `Held` until the next full
   * collection, and every young-generation collection meanwhile would keep (and promote) whatever
   * it holds — a parked delivery's event, were the spills still here.
   */
  spills: Spill[] | undefined;
}

interface PartitionBuffer {
  /** Entries whose first attempts are out: never acked before every one is settled. */
  held: Map<string, Held>;
  /** Entries in `held` with spills. */
  heldSpills: number;
  jobs: QueuedJob[];
  /**
   * Spills whose entries are settled otherwise and that go by reference: only
   * their entry ids, by tenant and endpoint. They linger up to `SPILL_LINGER_MS` for their batch,
   * so they keep nothing else: every object a parked delivery kept for that second would be copied
   * by the young generation's collections and promoted, to die in the old one.
   */
  refs: Map<string, Map<string, RefGroup>>;
  /** Spills whose entries are settled otherwise that keep their job (packed, or a job of their own). */
  ready: Spill[];
  /** Spills in `refs` and `ready`: what the next batches are made of. */
  readyCount: number;
  /**
   * Entries all of whose deliveries are settled and whose spills are in `ready`, acked once those
   * are written as jobs. (Those in `refs` are not here too: a slow endpoint puts thousands a second
   * there, and a Set that grows and is emptied each second leaves its old tables for the collector.)
   */
  spillHeld: Set<string>;
  /** Entries to ack and keep in the stream: a batch written before them refers to them. */
  keeps: string[];
  /** The acks and keeps being written (the write in flight's own lists: at most one per partition). */
  writingAcks: readonly string[];
  writingKeeps: readonly string[];
  /**
   * The newest entry id this partition has had in hand: a new entry read (`>`) newer than it cannot
   * be in hand, so only one that is not (a Redis that lost reads it had handed out) is looked for.
   */
  newest: string;
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
        jobs: list(),
        heldSpills: 0,
        refs: new Map(),
        ready: list(),
        readyCount: 0,
        spillHeld: new Set(),
        keeps: list(),
        writingAcks: NONE,
        writingKeeps: NONE,
        newest: "0-0",
        records: list(),
        acks: list(),
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
        b.readyCount > 0 ||
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
   * otherwise and has no other spill (`refs`: a lone one is a batch of one); the rest carry their
   * payloads (`packed`), and a lone one of those stays a job of its own. The spills of entries still
   * held wait for them (`Held.spills`), unless everything must be written now (`forced`). A batch's id
   * comes from its entries (or its deliveries' ids, packed), so a retried write adds it once. The
   * entries referred to go to `keeps`: acked, and kept in the stream for the batch.
   */
  function batched(p: number, b: PartitionBuffer): QueuedJob[] {
    const jobs: QueuedJob[] = [];
    for (const group of refGroups(b)) {
      refBatches(p, b, group, group.plain, false, jobs);
      refBatches(p, b, group, group.raw, true, jobs);
    }
    const taken = b.ready.splice(0);
    b.readyCount = 0;
    if (forced && b.heldSpills > 0) {
      for (const held of b.held.values()) {
        if (held.spills === undefined) continue;
        taken.push(...held.spills);
        held.spills = undefined;
      }
      b.heldSpills = 0;
    }
    if (taken.length === 0) return jobs;
    const byEndpoint = new Map<string, Spill[]>();
    for (const spill of taken) {
      const key = `${spill.tenant}\n${spill.endpointId}\n${spill.raw}`;
      const list = byEndpoint.get(key);
      if (list) list.push(spill);
      else byEndpoint.set(key, [spill]);
    }
    // Only while everything is written at once (forced) is a spill in `ready` that could go by
    // reference: settled otherwise, no other spill. One taken while its entry is held goes packed.
    const referable = (spill: Spill) => spill.single && !b.held.has(spill.entry);
    for (const list of byEndpoint.values()) {
      // A lone one (its entry has other spills, or everything is being written) stays a job of its own.
      if (list.length === 1) {
        jobs.push(jobOf(list[0]!));
        continue;
      }
      const refs = list.filter(referable);
      const rest = refs.length === list.length ? [] : list.filter((spill) => !referable(spill));
      if (refs.length > 0) {
        const { tenant, endpointId, raw } = refs[0]!;
        refBatches(
          p,
          b,
          { tenant, endpointId },
          refs.map((spill) => spill.entry),
          raw,
          jobs,
        );
      }
      for (const chunk of chunks(rest, DELIVERY_BATCH_MAX)) {
        const made = chunk.map(jobOf);
        jobs.push(
          batchJob(p, chunk[0]!, made.map((job) => job.opts.jobId).join("\n"), {
            packed: packBatch(
              made.map(({ opts, data, body }) => ({
                id: opts.jobId,
                body: body ?? JSON.stringify(toPayload(data.event as unknown as ImrelayEvent)),
                ...(data.traceparent !== undefined ? { traceparent: data.traceparent } : {}),
              })),
            ),
          }),
        );
      }
    }
    return jobs;
  }

  /**
   * The batches that refer to `entries` (one endpoint's, all with or all without the raw copy),
   * emptied: their entries go to `keeps`, written with the batches. Lone spills taken from `ready`
   * while everything is written at once waited in `spillHeld`, which they must leave: an entry in
   * both `keeps` and `spillHeld` would also be acked and deleted, under the batch that refers to it.
   */
  function refBatches(
    p: number,
    b: PartitionBuffer,
    to: Pick<RefGroup, "tenant" | "endpointId">,
    entries: string[],
    raw: boolean,
    jobs: QueuedJob[],
  ): void {
    if (entries.length === 0) return;
    for (const chunk of chunks(entries, DELIVERY_BATCH_ENTRIES_MAX)) {
      // Its endpoint in its id: an entry referred to by one endpoint's batch has no other spill,
      // but the id must not depend on that.
      const ids = `${to.tenant}\n${to.endpointId}\n${raw}\n${chunk.join("\n")}`;
      jobs.push(batchJob(p, to, ids, { entries: chunk, ...(raw ? { raw } : {}) }));
    }
    for (const id of entries) {
      b.spillHeld.delete(id);
      b.keeps.push(id);
    }
    entries.length = 0;
  }

  /** Spills are written once an endpoint's batch is full, or they have waited this long. */
  const spillDue = (b: PartitionBuffer) =>
    forced
      ? b.readyCount > 0 || b.heldSpills > 0
      : b.readyCount > 0 &&
        (b.readyCount >= DELIVERY_BATCH_ENTRIES_MAX || Date.now() - b.spillSince >= SPILL_LINGER_MS);

  function flush(p: number): void {
    if (stopped) return;
    const b = buffer(p);
    // An entry waiting for its spills to become a batch waits in `spillHeld` or its endpoint's `refs`; the others' acks go now.
    const ready = b.jobs.length > 0 || b.records.length > 0 || b.acks.length > 0 || spillDue(b);
    if (b.flushing || !ready) {
      if (!b.flushing && b.readyCount > 0 && !b.spillTimer) {
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
        b.jobs.push(...batched(p, b));
        // Written in the same go, after the jobs: acking them is safe once the write succeeds. Every
        // spill of these entries was ready, so is in a job now (those referred to are in `keeps`).
        for (const id of b.spillHeld) b.acks.push(id);
        b.spillHeld.clear();
        clearTimeout(b.spillTimer);
        b.spillTimer = undefined;
      }
      const jobs = b.jobs.splice(0);
      const records = b.records.splice(0);
      const acks = b.acks.splice(0);
      const keeps = b.keeps.splice(0);
      b.writingAcks = acks;
      b.writingKeeps = keeps;
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
        b.writingAcks = NONE;
        b.writingKeeps = NONE;
      }
    })().finally(() => {
      b.flushing = undefined;
      flush(p);
    });
  }

  /** Waits with its entry's other spills for the entry's other deliveries (`settled`). */
  function spill(b: PartitionBuffer, one: Spill): void {
    const held = b.held.get(one.entry);
    // Only a held entry's first attempt settles here; were it not held, its job goes on its own.
    if (!held) b.jobs.push(jobOf(one));
    else if (held.spills) held.spills.push(one);
    else {
      held.spills = [one];
      b.heldSpills++;
    }
  }

  /** Entry `id`'s deliveries are all settled, `spills` of them spilled: they wait for their batch. */
  function ready(b: PartitionBuffer, id: string, spills: readonly Spill[]): void {
    if (b.readyCount === 0) b.spillSince = Date.now();
    b.readyCount += spills.length;
    // An entry with two spills is referred to by neither (the first sent would delete it). A lone
    // one goes by reference, only its entry id kept: the event need not wait with it. (Not while
    // everything is being written at once, a hand-back: a lone one is then its own job.)
    if (spills.length === 1 && !forced) {
      const { tenant, endpointId, raw } = spills[0]!;
      const group = refGroup(b, tenant, endpointId);
      (raw ? group.raw : group.plain).push(id);
      return;
    }
    b.spillHeld.add(id);
    for (const one of spills) {
      one.single = spills.length === 1;
      b.ready.push(one);
    }
  }

  function refGroup(b: PartitionBuffer, tenant: string, endpointId: string): RefGroup {
    let byEndpoint = b.refs.get(tenant);
    if (!byEndpoint) {
      byEndpoint = new Map();
      b.refs.set(tenant, byEndpoint);
    }
    let group = byEndpoint.get(endpointId);
    if (!group) {
      // Kept once made (emptied by each batch): an endpoint's next spills need no new arrays.
      group = { tenant, endpointId, plain: list(), raw: list() };
      byEndpoint.set(endpointId, group);
    }
    return group;
  }

  /** One of entry `id`'s deliveries is settled: once all are, it is acked, or waits for its spills' batch. */
  function settled(p: number, b: PartitionBuffer, id: string): void {
    const held = b.held.get(id);
    if (held && --held.left <= 0) {
      b.held.delete(id);
      const { spills } = held;
      if (spills === undefined) b.acks.push(id);
      else {
        held.spills = undefined;
        b.heldSpills--;
        ready(b, id, spills);
      }
    }
    flush(p);
  }

  /** Entry `id` is held, lingering for a batch, or being acked (scans: only for entries that may be). */
  function inHand(b: PartitionBuffer, id: string): boolean {
    if (b.held.has(id) || b.spillHeld.has(id)) return true;
    if (b.acks.includes(id) || b.keeps.includes(id) || b.writingAcks.includes(id) || b.writingKeeps.includes(id))
      return true;
    for (const group of refGroups(b)) if (group.plain.includes(id) || group.raw.includes(id)) return true;
    return false;
  }

  /** How many entries are in `refs` (each is there once: a lone spill). */
  function refCount(b: PartitionBuffer): number {
    let n = 0;
    for (const group of refGroups(b)) n += group.plain.length + group.raw.length;
    return n;
  }

  /** The entries in `refs`. */
  function* refEntries(b: PartitionBuffer): Generator<string> {
    for (const group of refGroups(b)) {
      yield* group.plain;
      yield* group.raw;
    }
  }

  return {
    /**
     * Entry `id` of partition `p` has `count` first attempts out; `parked`, its deliveries to parked
     * endpoints, go to their batches (by reference once the first attempts are settled).
     */
    hold(
      p: number,
      id: string,
      count: number,
      parked?: { tenant: string; deliveries: readonly ParkedDelivery[] },
    ): void {
      const b = buffer(p);
      if (newerId(id, b.newest)) b.newest = id;
      const spills = parked?.deliveries.map(
        ({ endpointId, raw, job }): Spill => ({ job, tenant: parked.tenant, endpointId, raw, entry: id, single: true }),
      );
      if (count > 0) {
        const some = spills !== undefined && spills.length > 0;
        b.held.set(id, { left: count, spills: some ? spills : undefined });
        if (some) b.heldSpills++;
        return;
      }
      if (spills === undefined || spills.length === 0) b.acks.push(id);
      else ready(b, id, spills);
      flush(p);
    },
    /** Is this entry already in hand (its own pending entries are read again after a failure)? */
    holds(p: number, id: string): boolean {
      const b = buffers.get(p);
      return b !== undefined && inHand(b, id);
    },
    /**
     * `holds` for a new entry read (`>`), at once for one newer than any in hand: a Redis that came
     * back from an older snapshot, or a replica that missed a read, can hand out again an entry
     * whose deliveries are out here, and its record must not be replaced.
     */
    holdsAtOnce(p: number, id: string): boolean {
      const b = buffers.get(p);
      return b !== undefined && !newerId(id, b.newest) && inHand(b, id);
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
        spill(b, { job, tenant, endpointId, raw: "raw" in event, entry: id, single: true });
      }
      settled(p, b, id);
    },
    /**
     * Resets the idle time of every entry in hand, so no other dispatcher claims them; one that
     * another has claimed meanwhile (this one paused past `claimIdleMs`) stays with it.
     */
    async renew(): Promise<void> {
      await Promise.all(
        [...buffers].map(async ([p, b]) => {
          const ids = [
            ...b.held.keys(),
            ...b.spillHeld,
            ...refEntries(b),
            ...b.acks,
            ...b.keeps,
            ...b.writingAcks,
            ...b.writingKeeps,
          ];
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
        (n, b) =>
          n +
          b.held.size +
          b.spillHeld.size +
          refCount(b) +
          b.acks.length +
          b.keeps.length +
          b.writingAcks.length +
          b.writingKeeps.length,
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
          (b.retryAt > 0 ? b.readyCount + b.spillHeld.size + refCount(b) : 0),
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
  /** A parked delivery's is made only if it is written as a job of its own or packed (`jobOf`). */
  job: DeliveryJob | (() => DeliveryJob);
  tenant: string;
  endpointId: string;
  /** Its event carries the vendor's raw copy (an includeRaw endpoint's). */
  raw: boolean;
  entry: string;
  single: boolean;
}

/** One endpoint's spills that go by reference: their entries, without and with the raw copy. */
interface RefGroup {
  tenant: string;
  endpointId: string;
  plain: string[];
  raw: string[];
}

/** Every endpoint's group in `refs`, tenant by tenant. */
function* refGroups(b: PartitionBuffer): Generator<RefGroup> {
  for (const byEndpoint of b.refs.values()) yield* byEndpoint.values();
}

/** A spill's job, made now if it was parked. */
function jobOf(spill: Spill): DeliveryJob {
  const { job } = spill;
  return typeof job === "function" ? job() : job;
}

/**
 * An empty array made to hold objects and strings from the start. `[]` starts out holding small
 * integers only, and changes its kind when the first string or object goes in: every optimized
 * function that has seen it (the dispatcher's loop among them) is then thrown away and compiled
 * again — for a partition's `keeps` and `jobs`, a second into a slow endpoint's first batch,
 * under load.
 */
function list<T>(): T[] {
  const made: unknown[] = [undefined];
  made.length = 0;
  return made as T[];
}

/** No entries (the lists of a partition writing nothing). */
const NONE: readonly string[] = list();

/**
 * Stream entry id `a` (`ms-seq`) comes after `b`. The parts are compared as decimal numbers without
 * leading zeros: the longer is the greater, and those of one length compare as text.
 */
export function newerId(a: string, b: string): boolean {
  const da = a.indexOf("-");
  const db = b.indexOf("-");
  if (da !== db) return da > db;
  for (let i = 0; i < da; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca !== cb) return ca > cb;
  }
  const sa = a.length - da;
  const sb = b.length - db;
  if (sa !== sb) return sa > sb;
  return a > b;
}

/** Runs of `max` at most. */
function chunks<T>(list: readonly T[], max: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += max) out.push(list.slice(i, i + max));
  return out;
}

/**
 * A batch job of one endpoint's spills. Gone once done: its deliveries are in the delivered log,
 * or jobs of their own. Its id comes from `ids` (what it holds), so a write retried after a
 * partial failure adds it once.
 */
function batchJob(
  partition: number,
  { tenant, endpointId }: Pick<Spill, "tenant" | "endpointId">,
  ids: string,
  deliveries: Pick<DeliveryBatchData, "entries" | "raw" | "packed">,
): BatchJob {
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
