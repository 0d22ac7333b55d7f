import type { ImrelayConfig } from "@imrelay/config";
import {
  type BatchedDelivery,
  batchDeliveries,
  createSettleEntries,
  DELIVERY_JOB_NAME,
  type DeliveryBatchData,
  type DeliveryJobData,
  deliveryJobOptions,
  type RedisClient,
  type RedisKeys,
} from "@imrelay/store";
import type { Tracer } from "@opentelemetry/api";
import type { Job, Queue } from "bullmq";
import type { Attempt } from "./attempt.js";
import { deliveryBackoff, type Jitter } from "./backoff.js";
import type { DeliveryJob } from "./fan-out.js";
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
    const deliveries = batchDeliveries(job.data);
    const from = typeof job.progress === "number" ? job.progress : 0;
    const result: BatchResult = { delivered: 0, queued: 0 };
    const done = new Array<boolean>(deliveries.length).fill(false);
    let progress = from;

    async function deliver(i: number): Promise<void> {
      const delivery = batchDelivery(job.data, deliveries[i]!, jobOptions);
      const { data } = delivery;
      const body = deliveries[i]!.body;
      const readAt = clock();
      const span = tracer ? startDeliverySpan(tracer, data, 1) : undefined;
      const outcome = await attempt(data, 1, span, { body });
      if (span) endDeliverySpan(span, outcome.ok ? undefined : outcome.error);
      const settled = firstAttemptResult(delivery, outcome, { readAt, finishedAt: clock(), schedule, backoff });
      if (settled.kind === "delivered") {
        await settleEntries(partition, [settled.record], []);
        result.delivered++;
      } else {
        await queues[partition]!.add(settled.job.name, settled.job.data, settled.job.opts);
        result.queued++;
      }
      done[i] = true;
      const before = progress;
      while (progress < deliveries.length && done[progress]) progress++;
      if (progress > before) await job.updateProgress(progress);
    }

    const key = `${tenant}\n${endpointId}`;
    await Promise.all(deliveries.slice(from).map((_, k) => slots.run(key, () => deliver(from + k))));
    return result;
  };
}

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
 * stranded in the batch.
 *
 * @example
 * await queues[job.data.partition].addBulk(batchRemainder(job, deliveryJobOptions(config.delivery)));
 */
export function batchRemainder(
  job: Pick<Job<DeliveryBatchData>, "data" | "progress">,
  jobOptions: ReturnType<typeof deliveryJobOptions>,
): DeliveryJob[] {
  const from = typeof job.progress === "number" ? job.progress : 0;
  return batchDeliveries(job.data)
    .slice(from)
    .map((delivery) => batchDelivery(job.data, delivery, jobOptions));
}

/** One delivery of a batch as a job of its own (its event read back from its payload text). */
function batchDelivery(
  batch: DeliveryBatchData,
  { id, body, traceparent }: BatchedDelivery,
  jobOptions: ReturnType<typeof deliveryJobOptions>,
): DeliveryJob {
  const { tenant, endpointId } = batch;
  const { data: event } = JSON.parse(body) as { data: DeliveryJobData["event"] };
  const data: DeliveryJobData = { tenant, endpointId, event, ...(traceparent ? { traceparent } : {}) };
  return { name: DELIVERY_JOB_NAME, data, opts: { ...jobOptions, jobId: id } };
}
