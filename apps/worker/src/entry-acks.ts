import { createHash } from "node:crypto";
import { type ImrelayEvent, toPayload } from "@imrelay/core";
import {
  createSettleEntries,
  DELIVERY_BATCH_JOB_NAME,
  DELIVERY_BATCH_MAX,
  type DeliveredRecord,
  type DeliveryBatchData,
  type DeliveryJobData,
  packBatch,
  type RedisClient,
  type RedisKeys,
  replicasAcked,
} from "@imrelay/store";
import type { JobsOptions, Queue } from "bullmq";
import type { Logger } from "pino";
import type { DeliveryJob } from "./fan-out.js";
import type { FirstAttemptResult } from "./first-outcome.js";

export interface EntryAcksDeps {
  /** The connection the delivery queues write on (`WAIT` counts its writes). */
  redis: RedisClient;
  keys: RedisKeys;
  /** Partition `p`'s delivery queue at index p. */
  queues: ReadonlyArray<Queue<DeliveryJobData, unknown, string>>;
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
  /** Deliveries not attempted here, for the queue in batches per endpoint. */
  spills: DeliveryJob[];
  /** Entries with a delivery among `spills`: not acked before that spill is a job. */
  spilled: Set<string>;
  /** Entries all of whose deliveries are settled, acked once their spills are written as jobs. */
  spillHeld: string[];
  /** Entries whose acks are being written. */
  writing: Set<string>;
  records: DeliveredRecord[];
  acks: string[];
  flushing: Promise<void> | undefined;
  /** Set after a failed flush: the next waits this long, so an outage is not a busy loop. */
  retryAt: number;
  /** When the oldest spill not yet written came (Date.now()). */
  spillSince: number;
  spillTimer: NodeJS.Timeout | undefined;
}

/** How long a slow endpoint's spilled deliveries wait for more of their kind, to go to the queue as one batch job. */
export const SPILL_LINGER_MS = 100;

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
  const { redis, keys, queues, logger, consumer, replicaAcks, replicaTimeoutMs } = deps;
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
        spills: [],
        spilled: new Set(),
        spillHeld: [],
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
        b.spills.length > 0 ||
        b.spillHeld.length > 0 ||
        b.acks.length > 0 ||
        b.records.length > 0,
    );

  /**
   * Adds the jobs to partition `p`'s queue and, with `redis.replicaAcks`, waits for that many
   * replicas to have them; throws when they do not, so the entries behind them stay pending.
   */
  async function addJobs(p: number, jobs: readonly QueuedJob[]): Promise<void> {
    if (jobs.length === 0) return;
    await queues[p]!.addBulk(jobs as DeliveryJob[]);
    if (replicaAcks === 0) return;
    const acked = await replicasAcked(redis, keys.ingest(p), replicaAcks, replicaTimeoutMs);
    if (acked < replicaAcks) {
      throw new Error(
        `only ${acked} of ${replicaAcks} replicas confirmed the delivery jobs within ${replicaTimeoutMs} ms (redis.replicaAcks)`,
      );
    }
  }

  async function write(p: number, jobs: QueuedJob[], records: DeliveredRecord[], acks: string[]): Promise<void> {
    await addJobs(p, jobs);
    await settleEntries(p, records, acks);
  }

  /**
   * One batch job per endpoint for up to `DELIVERY_BATCH_MAX` of its spilled deliveries; a lone
   * one stays a job of its own (its id collapses a re-dispatch, and it shows as itself).
   */
  function batched(p: number, spills: DeliveryJob[]): QueuedJob[] {
    const byEndpoint = new Map<string, DeliveryJob[]>();
    for (const job of spills) {
      const key = `${job.data.tenant}\n${job.data.endpointId}`;
      const list = byEndpoint.get(key);
      if (list) list.push(job);
      else byEndpoint.set(key, [job]);
    }
    const out: QueuedJob[] = [];
    for (const list of byEndpoint.values()) {
      if (list.length === 1) {
        out.push(list[0]!);
        continue;
      }
      for (let i = 0; i < list.length; i += DELIVERY_BATCH_MAX) {
        const chunk = list.slice(i, i + DELIVERY_BATCH_MAX);
        const first = chunk[0]!;
        out.push({
          name: DELIVERY_BATCH_JOB_NAME,
          data: {
            tenant: first.data.tenant,
            endpointId: first.data.endpointId,
            partition: p,
            packed: packBatch(
              chunk.map(({ opts, data, body }) => ({
                id: opts.jobId,
                body: body ?? JSON.stringify(toPayload(data.event as unknown as ImrelayEvent)),
                ...(data.traceparent !== undefined ? { traceparent: data.traceparent } : {}),
              })),
            ),
          },
          // Gone once done: its deliveries are in the delivered log, or jobs of their own. Its id
          // comes from its deliveries, so a write retried after a partial failure adds it once.
          opts: {
            jobId: `batch.${createHash("sha256")
              .update(chunk.map((job) => job.opts.jobId).join("\n"))
              .digest("hex")
              .slice(0, 32)}`,
            ...BATCH_JOB_OPTIONS,
          },
        });
      }
    }
    return out;
  }

  /** Spills are written once an endpoint's batch is full, or they have waited this long. */
  const spillDue = (b: PartitionBuffer) =>
    b.spills.length > 0 &&
    (forced || b.spills.length >= DELIVERY_BATCH_MAX || Date.now() - b.spillSince >= SPILL_LINGER_MS);

  function flush(p: number): void {
    if (stopped) return;
    const b = buffer(p);
    // An entry waiting for its spills to become a batch waits in `spillHeld`; the others' acks go now.
    const ready = b.jobs.length > 0 || b.records.length > 0 || b.acks.length > 0 || spillDue(b);
    if (b.flushing || !ready) {
      if (!b.flushing && b.spills.length > 0 && !b.spillTimer) {
        // Lingering spills make a batch; they are written when their time is up, whatever else comes.
        b.spillTimer = setTimeout(() => {
          b.spillTimer = undefined;
          flush(p);
        }, SPILL_LINGER_MS);
      }
      if (!busy()) for (const resolve of drained.splice(0)) resolve();
      return;
    }
    const wait = Math.max(0, b.retryAt - Date.now());
    b.flushing = (async () => {
      // One tick's worth of settled deliveries go together.
      await new Promise((resolve) => (wait > 0 ? setTimeout(resolve, wait) : setImmediate(resolve)));
      if (stopped) return;
      if (spillDue(b)) {
        // Made into jobs once: a retried write adds the very same batches (same ids), never a regrouping.
        b.jobs.push(...batched(p, b.spills.splice(0)));
        // Written in the same go, after the jobs: acking them is safe once the write succeeds.
        b.acks.push(...b.spillHeld.splice(0));
        b.spilled.clear();
        clearTimeout(b.spillTimer);
        b.spillTimer = undefined;
      }
      const jobs = b.jobs.splice(0);
      const records = b.records.splice(0);
      const acks = b.acks.splice(0);
      for (const id of acks) b.writing.add(id);
      try {
        await write(p, jobs, records, acks);
        b.retryAt = 0;
      } catch (err) {
        // Kept, in order, for the next try; the entries stay pending meanwhile.
        b.jobs.unshift(...jobs);
        b.records.unshift(...records);
        b.acks.unshift(...acks);
        b.retryAt = Date.now() + 1_000;
        logger.error(
          { err, partition: p, jobs: jobs.length, acks: acks.length },
          "recording settled deliveries failed; retrying in 1 s (their entries stay pending)",
        );
      } finally {
        for (const id of acks) b.writing.delete(id);
      }
    })().finally(() => {
      b.flushing = undefined;
      flush(p);
    });
  }

  return {
    /** Entry `id` of partition `p` has `count` first attempts out. */
    hold(p: number, id: string, count: number): void {
      buffer(p).held.set(id, { left: count });
    },
    /** Is this entry already in hand (its own pending entries are read again after a failure)? */
    holds(p: number, id: string): boolean {
      const b = buffers.get(p);
      return Boolean(b && (b.held.has(id) || b.writing.has(id) || b.spilled.has(id) || b.acks.includes(id)));
    },
    addJobs,
    /** One of entry `id`'s deliveries is settled: delivered, to be queued, or spilled. */
    settle(p: number, id: string, result: FirstAttemptResult): void {
      const b = buffer(p);
      if (result.kind === "delivered") b.records.push(result.record);
      else if (result.kind === "queue") b.jobs.push(result.job);
      else {
        if (b.spills.length === 0) b.spillSince = Date.now();
        b.spills.push(result.job);
        b.spilled.add(id);
      }
      const held = b.held.get(id);
      if (held && --held.left <= 0) {
        b.held.delete(id);
        if (b.spilled.has(id)) b.spillHeld.push(id);
        else b.acks.push(id);
      }
      flush(p);
    },
    /** Resets the idle time of every entry in hand, so no other dispatcher claims them. */
    async renew(): Promise<void> {
      await Promise.all(
        [...buffers].map(async ([p, b]) => {
          const ids = [...b.held.keys(), ...b.spillHeld, ...b.acks, ...b.writing];
          if (ids.length === 0) return;
          await redis.call("XCLAIM", keys.ingest(p), keys.ingestGroup, consumer, "0", ...ids, "JUSTID");
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
      [...buffers.values()].reduce((n, b) => n + b.held.size + b.spillHeld.length + b.acks.length + b.writing.size, 0),
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
          (b.retryAt > 0 ? b.spills.length + b.spillHeld.length : 0),
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
