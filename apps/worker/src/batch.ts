import type { ImrelayConfig } from "@imrelay/config";
import {
  DELIVERY_JOB_NAME,
  type DeliveryBatchData,
  type DeliveryJobData,
  deliveryJobOptions,
  logDelivered,
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
}

/** What a batch job returns. */
export interface BatchResult {
  delivered: number;
  queued: number;
}

/**
 * Sends a batch of a slow endpoint's first attempts (`DELIVERY_BATCH_JOB_NAME`),
 * one after another — the endpoint is slow, and the worker's concurrency runs
 * batches side by side as it runs jobs. Each delivered one goes to the
 * delivered log; each failed one becomes a job of its own (its retry, or a
 * dead letter), exactly as a first attempt sent from the stream. The job's
 * progress counts what is done, so a batch taken over after its worker died
 * starts where that worker stopped (the one in flight then is sent again: at
 * least once).
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

  return async (job: Job<DeliveryBatchData>): Promise<BatchResult> => {
    const { tenant, endpointId, partition, deliveries } = job.data;
    const from = typeof job.progress === "number" ? job.progress : 0;
    const result: BatchResult = { delivered: 0, queued: 0 };
    for (let i = from; i < deliveries.length; i++) {
      const { id, event, traceparent } = deliveries[i]!;
      const data: DeliveryJobData = { tenant, endpointId, event, ...(traceparent ? { traceparent } : {}) };
      const delivery: DeliveryJob = { name: DELIVERY_JOB_NAME, data, opts: { ...jobOptions, jobId: id } };
      const readAt = clock();
      const span = tracer ? startDeliverySpan(tracer, data, 1) : undefined;
      const outcome = await attempt(data, 1, span);
      if (span) endDeliverySpan(span, outcome.ok ? undefined : outcome.error);
      const settled = firstAttemptResult(delivery, outcome, { readAt, finishedAt: clock(), schedule, backoff });
      if (settled.kind === "delivered") {
        const pipeline = redis.pipeline();
        logDelivered(pipeline, keys, partition, [settled.record]);
        await pipeline.exec();
        result.delivered++;
      } else {
        await queues[partition]!.add(settled.job.name, settled.job.data, settled.job.opts);
        result.queued++;
      }
      await job.updateProgress(i + 1);
    }
    return result;
  };
}
