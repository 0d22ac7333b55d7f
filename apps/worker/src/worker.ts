import type { ImrelayConfig } from "@imrelay/config";
import { type DeliveryJobState, type RedisKeys, redisKeys } from "@imrelay/store";
import type { Tracer } from "@opentelemetry/api";
import { UnrecoverableError, Worker } from "bullmq";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Dispatcher } from "undici";
import { createDeliveryAgent } from "./agent.js";
import { deliveryBackoff, type Jitter } from "./backoff.js";
import { createDeliveryProcessor, type DeliveryResult } from "./deliver.js";
import type { WorkerMetrics } from "./metrics.js";

export interface DeliveryWorkerDeps {
  config: Pick<ImrelayConfig, "tenants" | "delivery" | "redis">;
  /** Needs `maxRetriesPerRequest: null` (BullMQ duplicates it for its blocking reads). */
  connection: Redis;
  logger: Logger;
  metrics: WorkerMetrics;
  /** @default redisKeys(config.redis.prefix) */
  keys?: RedisKeys;
  /** ms since the epoch. @default Date.now */
  clock?: () => number;
  /** @default ±20 % */
  jitter?: Jitter;
  /** Where requests go; by default an agent with the SSRF guard, closed with the worker. */
  dispatcher?: Dispatcher;
  /** @default true */
  autorun?: boolean;
  /** Traces each delivery attempt (README "Tracing"). @default none: no spans, no cost */
  tracer?: Tracer | undefined;
}

export interface DeliveryWorker {
  worker: Worker<DeliveryJobState, DeliveryResult>;
  /** Takes no new jobs, waits for in-flight deliveries to finish, then closes the HTTP agent. */
  close(): Promise<void>;
}

/**
 * The BullMQ worker that delivers. A job whose worker dies keeps its lock for
 * `lockDuration`; then the stalled check hands it to another worker (up to
 * `maxStalledCount` times), so a crash delays a delivery but never drops it.
 *
 * @example
 * const delivery = createDeliveryWorker({ config, connection, logger, metrics: workerMetrics(registry) });
 * await delivery.close();
 */
export function createDeliveryWorker(deps: DeliveryWorkerDeps): DeliveryWorker {
  const { config, connection, logger, metrics } = deps;
  const keys = deps.keys ?? redisKeys(config.redis.prefix);
  const ownAgent = deps.dispatcher
    ? undefined
    : createDeliveryAgent({
        allowPrivateNetworks: config.delivery.allowPrivateNetworks,
        timeoutMs: config.delivery.timeoutMs,
      });
  const dispatcher = deps.dispatcher ?? ownAgent!;
  const processor = createDeliveryProcessor({
    config,
    redis: connection,
    keys,
    logger,
    metrics,
    dispatcher,
    tracer: deps.tracer,
    ...(deps.clock ? { clock: deps.clock } : {}),
  });

  const worker = new Worker<DeliveryJobState, DeliveryResult>(keys.deliveryQueue, processor, {
    connection,
    prefix: keys.prefix,
    concurrency: config.delivery.concurrency,
    lockDuration: config.delivery.lockDuration,
    stalledInterval: config.delivery.lockDuration,
    maxStalledCount: 3,
    autorun: deps.autorun ?? true,
    settings: { backoffStrategy: deliveryBackoff(config.delivery.retrySchedule, deps.jitter) },
  });
  worker.on("error", (err) => logger.error({ err }, "delivery worker error"));
  worker.on("failed", (job, err) => {
    if (!job) return;
    const final = err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
    if (final) {
      logger.error(
        {
          tenant: job.data.tenant,
          endpoint: job.data.endpointId,
          eventId: job.data.event.id,
          jobId: job.id,
          reason: err.message,
        },
        "delivery is a dead letter",
      );
    }
  });

  return {
    worker,
    async close() {
      await worker.close();
      await ownAgent?.close();
    },
  };
}
