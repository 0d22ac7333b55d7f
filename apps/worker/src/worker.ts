import type { ImrelayConfig } from "@imrelay/config";
import { allPartitions, type DeliveryJobState, type RedisClient, type RedisKeys, redisKeys } from "@imrelay/store";
import { UnrecoverableError, Worker } from "bullmq";
import type { Logger } from "pino";
import type { Dispatcher } from "undici";
import { createDeliveryAgent } from "./agent.js";
import { deliveryBackoff, type Jitter } from "./backoff.js";
import { createDeliveryProcessor, type DeliveryResult } from "./deliver.js";
import type { WorkerMetrics } from "./metrics.js";

/** How often the delivery workers' errors are logged at most. */
const ERROR_LOG_EVERY_MS = 10_000;

export interface DeliveryWorkerDeps {
  config: Pick<ImrelayConfig, "tenants" | "delivery" | "redis">;
  /** Needs `maxRetriesPerRequest: null` (BullMQ duplicates it for its blocking reads). */
  connection: RedisClient;
  logger: Logger;
  metrics: WorkerMetrics;
  /** @default redisKeys(config.redis.prefix, config.redis.partitions) */
  keys?: RedisKeys;
  /** The partitions whose queues this worker serves. @default every partition */
  partitions?: readonly number[];
  /** ms since the epoch. @default Date.now */
  clock?: () => number;
  /** @default ±20 % */
  jitter?: Jitter;
  /** Where requests go; by default an agent with the SSRF guard, closed with the worker. */
  dispatcher?: Dispatcher;
  /** @default true */
  autorun?: boolean;
}

export interface DeliveryWorker {
  /** One BullMQ worker per partition served, in the order of `partitions`. */
  workers: Array<Worker<DeliveryJobState, DeliveryResult>>;
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
  const keys = deps.keys ?? redisKeys(config.redis.prefix, config.redis.partitions);
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
    ...(deps.clock ? { clock: deps.clock } : {}),
  });

  const partitions = deps.partitions ?? allPartitions(keys);
  const concurrency = shareOut(config.delivery.concurrency, partitions.length);
  // A Redis outage or failover makes every partition's worker report the same error: say it once in a while.
  let lastErrorLog = 0;
  const workers = partitions.map((p, i) => {
    const worker = new Worker<DeliveryJobState, DeliveryResult>(keys.deliveryQueue, processor, {
      connection,
      prefix: keys.partitionPrefix(p),
      concurrency: concurrency[i]!,
      lockDuration: config.delivery.lockDuration,
      stalledInterval: config.delivery.lockDuration,
      maxStalledCount: 3,
      autorun: deps.autorun ?? true,
      settings: { backoffStrategy: deliveryBackoff(config.delivery.retrySchedule, deps.jitter) },
    });
    worker.on("error", (err) => {
      if (Date.now() - lastErrorLog < ERROR_LOG_EVERY_MS) return;
      lastErrorLog = Date.now();
      logger.error({ err: err.message, partition: p }, "delivery worker error (logged at most every 10 s)");
    });
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
    return worker;
  });

  return {
    workers,
    async close() {
      await Promise.all(workers.map((worker) => worker.close()));
      await ownAgent?.close();
    },
  };
}

/**
 * `total` split into `parts` shares as even as can be, each at least 1: a
 * worker process's `delivery.concurrency` over the partitions' queues it serves.
 *
 * @example
 * shareOut(50, 16); // [4, 4, 3, 3, …] (two 4s, fourteen 3s)
 */
export function shareOut(total: number, parts: number): number[] {
  const base = Math.floor(total / parts);
  const extra = total - base * parts;
  return Array.from({ length: parts }, (_, i) => Math.max(1, base + (i < extra ? 1 : 0)));
}
