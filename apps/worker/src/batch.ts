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
 * gets no more than its share, however many of its batches run. Each
 * delivered one goes to the delivered log; each failed one becomes a job of
 * its own (its retry, or a dead letter), exactly as a first attempt sent from
 * the stream. The job's progress counts the deliveries done from the start, so
 * a batch taken over after its worker died starts about where that worker
 * stopped (what was in flight then is sent again: at least once).
 *
 * @example
 * const processBatch = createBatchProcessor({ config, attempt, redis, keys, queues });
 * await processBatch(job);
 */
export function createBatchProcessor(deps: BatchProcessorDeps) {
  const { config, attempt, redis, keys, queues, tracer } = deps;
  const clock = deps.clock ?? Date.now;
  const schedule = config.delivery.retrySchedule;
  const backoff = deliveryBackoff(schedule, deps.jitter);
  const jobOptions = deliveryJobOptions(config.delivery);

  const slots = endpointSlots(deps.endpointConcurrency);
  const settleEntries = createSettleEntries({ redis, keys });

  return async (job: Job<DeliveryBatchData>): Promise<BatchResult> => {
    const { tenant, endpointId, partition } = job.data;
    const from = typeof job.progress === "number" ? job.progress : 0;
    const items = await batchItems(job.data, from, { redis, keys, jobOptions });
    const result: BatchResult = { delivered: 0, queued: 0 };
    const done = new Array<boolean>(items.length).fill(false);
    let progress = from;

    async function deliver(i: number): Promise<void> {
      const item = items[i]?.();
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

    const key = `${tenant}\n${endpointId}`;
    // Those without a delivery to make take no slot.
    await Promise.all(
      items.slice(from).map((item, k) => (item ? slots.run(key, () => deliver(from + k)) : deliver(from + k))),
    );
    return result;
  };
}

/**
 * A batch's deliveries, each made when its turn comes (a slow endpoint's batch waits long for
 * its slots: nothing is parsed before), with its payload text and, for a batch that refers to
 * ingest entries, the entry (to delete once its delivery is settled; an entry that cannot be
 * read is only deleted, as the dispatcher drops one). Those before `from` (done before a
 * takeover) are left undefined; so is an entry no longer in the stream: its delivery was settled
 * already (a batch taken over after its worker deleted the entry but before it counted it, or a
 * dispatcher that claimed the entry and queued its deliveries as jobs).
 */
async function batchItems(
  data: DeliveryBatchData,
  from: number,
  {
    redis,
    keys,
    jobOptions,
  }: { redis: RedisClient; keys: RedisKeys; jobOptions: ReturnType<typeof deliveryJobOptions> },
): Promise<Array<(() => BatchItem) | undefined>> {
  if (data.entries === undefined) {
    return batchDeliveries(data).map((delivery, i) =>
      i < from ? undefined : () => ({ job: batchDelivery(data, delivery, jobOptions) }),
    );
  }
  const items = new Array<(() => BatchItem) | undefined>(data.entries.length);
  const entries = await readEntries(redis, keys, data.partition, data.entries.slice(from));
  for (const [k, entry] of entries.entries()) {
    if (entry[1] === null) continue;
    items[from + k] = () => {
      const parsed = parseIngestEntry(entry);
      if (!parsed.ok) return { entry: entry[0] };
      const job = entryDelivery(parsed, { endpointId: data.endpointId, includeRaw: data.raw === true, jobOptions });
      return { job, entry: entry[0] };
    };
  }
  return items;
}

/** A delivery to make, the ingest entry it is made from, or both. */
type BatchItem = { job: DeliveryJob; entry?: string } | { job?: undefined; entry: string };

/** A limit per key on work in flight, shared by every caller in the process. */
function endpointSlots(limit: number) {
  const lines = new Map<string, { active: number; waiting: Array<() => void> }>();
  return {
    async run<T>(key: string, work: () => Promise<T>): Promise<T> {
      let line = lines.get(key);
      if (!line) {
        line = { active: 0, waiting: [] };
        lines.set(key, line);
      }
      if (line.active >= limit) await new Promise<void>((resolve) => line!.waiting.push(resolve));
      else line.active++;
      try {
        return await work();
      } finally {
        const next = line.waiting.shift();
        // The slot passes straight to the next in line; with none waiting it is given back.
        if (next) next();
        else if (--line.active === 0) lines.delete(key);
      }
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
  const items = (await batchItems(job.data, from, deps)).flatMap((make) => (make ? [make()] : []));
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
