import type { ImrelayConfig } from "@imrelay/config";
import {
  allPartitions,
  createSettleEntries,
  DELIVERY_BATCH_JOB_NAME,
  type DeliveryBatchData,
  type DeliveryJobData,
  type DeliveryJobState,
  deliveryJobOptions,
  type RedisClient,
  type RedisKeys,
  redisKeys,
} from "@imrelay/store";
import type { Tracer } from "@opentelemetry/api";
import { type Job, type Queue, UnrecoverableError, Worker } from "bullmq";
import type { Logger } from "pino";
import type { Dispatcher } from "undici";
import { createDeliveryAgent } from "./agent.js";
import { type Attempt, createAttempt } from "./attempt.js";
import { deliveryBackoff, type Jitter } from "./backoff.js";
import { batchRemainder, createBatchProcessor } from "./batch.js";
import { attemptNumber, createDeliveryProcessor, type DeliveryResult } from "./deliver.js";
import { endpointConcurrency } from "./endpoint-concurrency.js";
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
  /** Traces each delivery attempt (README "Tracing"). @default none: no spans, no cost */
  tracer?: Tracer | undefined;
  /**
   * Every partition's delivery queue, by partition: a batch of a slow endpoint's first attempts
   * (`DELIVERY_BATCH_JOB_NAME`) queues each failed delivery there. With them, this worker also
   * serves the partitions' batch queues (`keys.batchQueue`); without them, it serves none, and a
   * batch found in a delivery queue (written there by an older version) fails.
   */
  queues?: ReadonlyArray<Queue<DeliveryJobData, unknown, string>>;
  /** One attempt shared with the process's other senders (first attempts). @default one of its own */
  attempt?: Attempt;
}

export interface DeliveryWorker {
  /** One BullMQ worker per partition served, in the order of `partitions`. */
  workers: Array<Worker<DeliveryJobState, DeliveryResult>>;
  /** The same for the partitions' batch queues (none when no `queues` were given). */
  batchWorkers: Array<Worker<DeliveryJobState, DeliveryResult>>;
  /**
   * Takes no new jobs, waits for in-flight deliveries to finish, then closes
   * the HTTP agent. While Redis is away it waits for nothing: deliveries in
   * flight are dropped and taken over later, as a dead worker's are.
   */
  close(): Promise<void>;
  /** The job ids of the deliveries being sent right now. */
  inFlight(): string[];
  /**
   * Gives the deliveries still in flight back to the queue, so another worker
   * sends them at once instead of after their lock runs out; for a shutdown
   * that cannot wait for them. Resolves with what it could and could not give back.
   */
  handBack(): Promise<{ handedBack: string[]; kept: string[] }>;
}

/**
 * The BullMQ worker that delivers. A job whose worker dies keeps its lock for
 * at most `lockDuration`; the stalled check, which runs every
 * `stalledInterval`, then hands it to another worker (up to `maxStalledCount`
 * times), so a crash delays a delivery but never drops it.
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
        connections: config.delivery.concurrency,
        dnsCacheMs: config.delivery.dnsCacheMs,
      });
  const dispatcher = deps.dispatcher ?? ownAgent!;
  // One attempt (and its metric series) for jobs and batches alike.
  const attempt =
    deps.attempt ?? createAttempt({ config, redis: connection, keys, logger, metrics, dispatcher, clock: deps.clock });
  const processor = createDeliveryProcessor({
    config,
    redis: connection,
    keys,
    logger,
    metrics,
    dispatcher,
    attempt,
    tracer: deps.tracer,
    ...(deps.clock ? { clock: deps.clock } : {}),
  });

  const settleEntries = createSettleEntries({ redis: connection, keys });
  const processBatch = deps.queues
    ? createBatchProcessor({
        config,
        attempt,
        redis: connection,
        keys,
        queues: deps.queues,
        endpointConcurrency: endpointConcurrency(config.delivery),
        tracer: deps.tracer,
        ...(deps.jitter ? { jitter: deps.jitter } : {}),
        ...(deps.clock ? { clock: deps.clock } : {}),
      })
    : undefined;

  // The lock token of each delivery in flight: handing one back needs it.
  const inFlight = new Map<string, { job: Job<DeliveryJobState>; token: string | undefined }>();
  const tracked = async (job: Job<DeliveryJobState>, token?: string) => {
    const id = String(job.id);
    inFlight.set(id, { job, token });
    try {
      if (job.name === DELIVERY_BATCH_JOB_NAME) {
        if (!processBatch) throw new UnrecoverableError("this worker was given no queues for a batch's failures");
        await processBatch(job as unknown as Job<DeliveryBatchData>);
        return { status: 0, attempt: 1, durationMs: 0 };
      }
      return await processor(job, token);
    } finally {
      inFlight.delete(id);
    }
  };

  const partitions = deps.partitions ?? allPartitions(keys);
  const concurrency = shareOut(config.delivery.concurrency, partitions.length);
  // A Redis outage or failover makes every partition's worker report the same error: say it once in a while.
  let lastErrorLog = 0;
  const jobOptions = deliveryJobOptions(config.delivery);

  /** A batch that failed for good (Redis failed it every time): what is left of it becomes jobs of their own. */
  function batchFailedForGood(batch: Job<DeliveryBatchData>, err: Error): void {
    const queue = deps.queues?.[batch.data.partition];
    (async () => {
      const left = await batchRemainder(batch, { redis: connection, keys, jobOptions });
      logger.error(
        { jobId: batch.id, endpoint: batch.data.endpointId, deliveries: left.jobs.length, reason: err.message },
        "a batch of first attempts failed for good: its deliveries left become jobs of their own",
      );
      await queue?.addBulk(left.jobs);
      // The entries it referred to go once their deliveries are jobs.
      await settleEntries(batch.data.partition, [], [], { released: left.released });
    })().catch((addErr: Error) =>
      logger.error({ jobId: batch.id, err: addErr.message }, "could not queue what was left of a failed batch"),
    );
  }

  function serve(queueName: string, p: number, slots: number): Worker<DeliveryJobState, DeliveryResult> {
    const worker = new Worker<DeliveryJobState, DeliveryResult>(queueName, tracked, {
      connection,
      prefix: keys.partitionPrefix(p),
      concurrency: slots,
      lockDuration: config.delivery.lockDuration,
      // A dead worker's job is found by the first check after its lock ran out, so checking far
      // less often than the lock lasts would add up to a whole interval to every takeover.
      stalledInterval: config.delivery.stalledInterval,
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
      if (job.name === DELIVERY_BATCH_JOB_NAME) {
        if (job.attemptsMade >= (job.opts.attempts ?? 1) && deps.queues)
          batchFailedForGood(job as unknown as Job<DeliveryBatchData>, err);
        return;
      }
      // attemptNumber counts the attempt that just failed, and a first attempt sent from the stream.
      const final = err instanceof UnrecoverableError || attemptNumber(job) - 1 >= (job.opts.attempts ?? 1);
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
  }

  const workers = partitions.map((p, i) => serve(keys.deliveryQueue, p, concurrency[i]!));
  // As many slots again for batches: a batch waits on its slow endpoint's own slots (endpointConcurrency)
  // for most of its life, and in a queue of its own it holds none a retry could use meanwhile.
  const batchWorkers = processBatch ? partitions.map((p, i) => serve(keys.batchQueue, p, concurrency[i]!)) : [];
  const all = [...workers, ...batchWorkers];

  return {
    workers,
    batchWorkers,
    async close() {
      // With Redis away a graceful close would wait for Redis without end: BullMQ waits for its
      // blocking connection to report "end", which a connection between two reconnects never does,
      // and a delivery that finishes cannot be recorded anyway. Its job stays locked, then stalls and
      // is taken over, as when a worker dies.
      const redisAway = connection.status !== "ready";
      if (redisAway && inFlight.size > 0) {
        logger.warn(
          { jobIds: [...inFlight.keys()] },
          `Redis is unavailable: ${inFlight.size} deliveries in flight are left for another worker to take over once their lock runs out`,
        );
      }
      await Promise.all(all.map((worker) => worker.close(redisAway)));
      if (redisAway) await ownAgent?.destroy();
      else await ownAgent?.close();
    },
    inFlight: () => [...inFlight.keys()],
    async handBack() {
      const handedBack: string[] = [];
      const kept: string[] = [];
      await Promise.all(
        [...inFlight].map(async ([id, { job, token }]) => {
          try {
            // Removes this worker's lock and puts the job back in the waiting list, as a rate limit does.
            if (token === undefined) throw new Error("no lock token");
            await job.moveToWait(token);
            handedBack.push(id);
          } catch {
            kept.push(id);
          }
        }),
      );
      return { handedBack, kept };
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
