import type { ImrelayConfig } from "@imrelay/config";
import {
  type BatchedDelivery,
  batchDeliveries,
  createSettleEntries,
  DELIVERY_JOB_NAME,
  type DeliveryBatchData,
  type DeliveryJobData,
  deliveryJobOptions,
  parseIngestEntry,
  type RedisClient,
  type RedisKeys,
  readEntries,
  type StreamEntry,
} from "@imrelay/store";
import type { Tracer } from "@opentelemetry/api";
import type { Job, Queue } from "bullmq";
import type { Attempt } from "./attempt.js";
import { deliveryBackoff, type Jitter } from "./backoff.js";
import { type DeliveryJob, entryDelivery } from "./fan-out.js";
import { firstAttemptResult } from "./first-outcome.js";
import { endDeliverySpan, startDeliverySpan } from "./tracing.js";

export interface BatchProcessorDeps {
  config: Pick<ImrelayConfig, "delivery">;
  attempt: Attempt;
  /** For the delivered log. */
  redis: RedisClient;
  keys: RedisKeys;
  /** Partition `p`'s delivery queue at index p: where a failed delivery's own job goes. */
  queues: ReadonlyArray<Queue<DeliveryJobData, unknown, string>>;
  tracer?: Tracer | undefined;
  /** @default ±20 % */
  jitter?: Jitter;
  /** ms since the epoch. @default Date.now */
  clock?: () => number;
  /** One endpoint's batched deliveries in flight at most, across this process's batches. */
  endpointConcurrency: number;
}

/** What a batch job returns. */
export interface BatchResult {
  delivered: number;
  queued: number;
}

/**
 * Sends a batch of a slow endpoint's first attempts (`DELIVERY_BATCH_JOB_NAME`),
 * side by side, with at most `endpointConcurrency` of that endpoint's batched
 * deliveries in flight across every batch of this process: a slow endpoint
 * gets no more than its share, however many of its batches run, and its
 * batches go out in the order they were taken. A batch that refers to ingest
 * entries reads them as its deliveries reach their slots. Each
 * delivered one goes to the delivered log; each failed one becomes a job of
 * its own (its retry, or a dead letter), exactly as a first attempt sent from
 * the stream. The job's progress counts the deliveries done from the start, so
 * a batch taken over after its worker died starts about where that worker
 * stopped (what was in flight then is sent again: at least once).
 *
 * @example
 * const processBatch = createBatchProcessor({ config, attempt, redis, keys, queues, endpointConcurrency: 25 });
 * await processBatch(job);
 */
export function createBatchProcessor(deps: BatchProcessorDeps) {
  const { config, attempt, redis, keys, queues, tracer } = deps;
  const clock = deps.clock ?? Date.now;
  const schedule = config.delivery.retrySchedule;
  const backoff = deliveryBackoff(schedule, deps.jitter);
  const jobOptions = deliveryJobOptions(config.delivery);

  const slots = endpointLanes(deps.endpointConcurrency);
  const settleEntries = createSettleEntries({ redis, keys });

  return async (job: Job<DeliveryBatchData>): Promise<BatchResult> => {
    const { tenant, endpointId, partition } = job.data;
    const from = typeof job.progress === "number" ? job.progress : 0;
    const items = batchItems(job.data, from, { redis, keys, jobOptions });
    const result: BatchResult = { delivered: 0, queued: 0 };
    const done = new Array<boolean>(items.length).fill(false);
    let progress = from;

    async function deliver(i: number): Promise<void> {
      const item = await items.at(i);
      if (item?.job) {
        const { job: delivery, entry } = item;
        const { data, body } = delivery;
        const readAt = clock();
        const span = tracer ? startDeliverySpan(tracer, data, 1) : undefined;
        const outcome = await attempt(data, 1, span, { body });
        if (span) endDeliverySpan(span, outcome.ok ? undefined : outcome.error);
        const settled = firstAttemptResult(delivery, outcome, { readAt, finishedAt: clock(), schedule, backoff });
        // The entry it was made from goes once its delivery is logged, or a job of its own.
        const released = entry === undefined ? [] : [entry];
        if (settled.kind === "delivered") {
          // Logged from the entry it refers to, before that is deleted (one script call).
          if (entry !== undefined && settled.record.fromEntry) settled.record.entry = entry;
          await settleEntries(partition, [settled.record], [], { released });
          result.delivered++;
        } else {
          await queues[partition]!.add(settled.job.name, settled.job.data, settled.job.opts);
          await settleEntries(partition, [], [], { released });
          result.queued++;
        }
      } else if (item) {
        await settleEntries(partition, [], [], { released: [item.entry] });
      }
      done[i] = true;
      const before = progress;
      while (progress < items.length && done[progress]) progress++;
      if (progress > before) await job.updateProgress(progress);
    }

    // Sent in order, as the endpoint's slots free up; each entry is read only then (`batchItems`).
    await slots.run(`${tenant}\n${endpointId}`, from, items.length, deliver);
    return result;
  };
}

/**
 * A batch's deliveries, each made when its turn comes (`at(i)`: a slow endpoint's batch waits long
 * for its slots, so nothing is read or parsed before). A batch that refers to ingest entries reads
 * them `READ_WINDOW` at a time, as its deliveries reach their slots: the batches a worker has
 * taken hold ids, not events. An item comes with its entry (to delete once its delivery is
 * settled; an entry that cannot be parsed is only deleted, as the dispatcher drops one). Those
 * before `from` (done before a takeover) are undefined; so is an entry no longer in the stream:
 * its delivery was settled already (a batch taken over after its worker deleted the entry but
 * before it counted it, or a dispatcher that claimed the entry and queued its deliveries as jobs).
 */
function batchItems(
  data: DeliveryBatchData,
  from: number,
  {
    redis,
    keys,
    jobOptions,
  }: { redis: RedisClient; keys: RedisKeys; jobOptions: ReturnType<typeof deliveryJobOptions> },
): { length: number; at(i: number): Promise<BatchItem | undefined> } {
  const { entries: ids } = data;
  if (ids === undefined) {
    const deliveries = batchDeliveries(data);
    return {
      length: deliveries.length,
      at: async (i) =>
        i < from || !deliveries[i] ? undefined : { job: batchDelivery(data, deliveries[i]!, jobOptions) },
    };
  }
  /** The windows read or being read (by index), each dropped once its every entry is taken. */
  const windows = new Map<number, { entries: Promise<StreamEntry[]>; left: number }>();
  function windowOf(w: number) {
    let window = windows.get(w);
    if (!window) {
      const start = Math.max(from, w * READ_WINDOW);
      const end = Math.min(ids!.length, (w + 1) * READ_WINDOW);
      const entries = readEntries(redis, keys, data.partition, ids!.slice(start, end)).then(
        // Indexed as the batch is: those before `from` are not read.
        (read) => [...new Array<StreamEntry>(start - w * READ_WINDOW), ...read],
        (err: unknown) => {
          // Read again by the next delivery that needs it (this one fails, and its batch is tried again).
          windows.delete(w);
          throw err;
        },
      );
      window = { entries, left: end - start };
      windows.set(w, window);
    }
    return window;
  }
  return {
    length: ids.length,
    async at(i) {
      if (i < from) return undefined;
      const w = Math.floor(i / READ_WINDOW);
      const window = windowOf(w);
      const entry = (await window.entries)[i - w * READ_WINDOW]!;
      if (--window.left === 0) windows.delete(w);
      if (entry[1] === null) return undefined;
      const parsed = parseIngestEntry(entry);
      if (!parsed.ok) return { entry: entry[0] };
      const job = entryDelivery(parsed, { endpointId: data.endpointId, includeRaw: data.raw === true, jobOptions });
      return { job, entry: entry[0] };
    },
  };
}

/**
 * A batch's entries are read this many at a time, when the first of them reaches its slot: one
 * round trip per window, and a worker holding many batches of a slow endpoint holds their ids
 * only (with the payloads read up front, 50 batches of a thousand would hold 50,000 events).
 */
const READ_WINDOW = 32;

/** A delivery to make, the ingest entry it is made from, or both. */
type BatchItem = { job: DeliveryJob; entry?: string } | { job?: undefined; entry: string };

/**
 * Each endpoint's batches, sent through at most `limit` lanes per endpoint, shared by every batch
 * of the process: a lane takes the next delivery of the oldest batch with any left, so an
 * endpoint's deliveries go out in the order its batches were taken. A batch waiting its turn is
 * a cursor, not a promise per delivery (a slow endpoint's batches wait for minutes, and what
 * waits that long is copied to the old heap, where it costs the collector's threads the cores
 * the fast endpoints use).
 */
function endpointLanes(limit: number) {
  interface Run {
    next: number;
    end: number;
    deliver: (i: number) => Promise<void>;
    inFlight: number;
    resolve: () => void;
    reject: (err: unknown) => void;
    failed: boolean;
  }
  const lines = new Map<string, { lanes: number; runs: Run[] }>();

  async function lane(key: string, line: { lanes: number; runs: Run[] }): Promise<void> {
    for (let run = line.runs[0]; run !== undefined; run = line.runs[0]) {
      const i = run.next++;
      if (run.next >= run.end) line.runs.shift();
      run.inFlight++;
      try {
        await run.deliver(i);
      } catch (err) {
        if (!run.failed) {
          // Redis failed: the rest of the batch waits for its job's next try (from its progress).
          run.failed = true;
          line.runs = line.runs.filter((other) => other !== run);
          run.reject(err);
        }
      } finally {
        if (--run.inFlight === 0 && run.next >= run.end && !run.failed) run.resolve();
      }
    }
    if (--line.lanes === 0 && line.runs.length === 0) lines.delete(key);
  }

  return {
    /** Sends deliveries `from` to `end` (exclusive) of a batch; rejects with the first failure. */
    run(key: string, from: number, end: number, deliver: (i: number) => Promise<void>): Promise<void> {
      if (from >= end) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        let line = lines.get(key);
        if (!line) {
          line = { lanes: 0, runs: [] };
          lines.set(key, line);
        }
        line.runs.push({ next: from, end, deliver, inFlight: 0, resolve, reject, failed: false });
        // No more lanes than deliveries not yet taken (a lane with none to take ends at once).
        while (line.lanes < limit && line.runs.length > 0) {
          line.lanes++;
          void lane(key, line);
        }
      });
    },
  };
}

/**
 * What is left of a batch that failed for good (Redis away for its every
 * try): its deliveries not yet done, each as a job of its own, so none is
 * stranded in the batch; and the ingest entries they were made from, to
 * delete once those jobs are added.
 *
 * @example
 * const { jobs, released } = await batchRemainder(job, { redis, keys, jobOptions: deliveryJobOptions(config.delivery) });
 * await queues[job.data.partition].addBulk(jobs);
 * await createSettleEntries({ redis, keys })(job.data.partition, [], [], { released });
 */
export async function batchRemainder(
  job: Pick<Job<DeliveryBatchData>, "data" | "progress">,
  deps: { redis: RedisClient; keys: RedisKeys; jobOptions: ReturnType<typeof deliveryJobOptions> },
): Promise<{ jobs: DeliveryJob[]; released: string[] }> {
  const from = typeof job.progress === "number" ? job.progress : 0;
  const all = batchItems(job.data, from, deps);
  const items: BatchItem[] = [];
  for (let i = from; i < all.length; i++) {
    const item = await all.at(i);
    if (item) items.push(item);
  }
  return {
    jobs: items.flatMap((item) => (item.job ? [item.job] : [])),
    released: items.flatMap((item) => (item.entry === undefined ? [] : [item.entry])),
  };
}

/** One delivery of a batch as a job of its own (its event read back from its payload text, which it keeps). */
function batchDelivery(
  batch: DeliveryBatchData,
  { id, body, traceparent }: BatchedDelivery,
  jobOptions: ReturnType<typeof deliveryJobOptions>,
): DeliveryJob {
  const { tenant, endpointId } = batch;
  const { data: event } = JSON.parse(body) as { data: DeliveryJobData["event"] };
  const data: DeliveryJobData = { tenant, endpointId, event, ...(traceparent ? { traceparent } : {}) };
  return { name: DELIVERY_JOB_NAME, data, opts: { ...jobOptions, jobId: id }, body };
}
