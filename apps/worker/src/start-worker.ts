import type { ImrelayConfig } from "@imrelay/config";
import {
  allPartitions,
  checkRedisLayout,
  closeDeliveryQueue,
  closeRedis,
  createBatchQueues,
  createDeliveryQueues,
  createRedisClient,
  redisKeys,
} from "@imrelay/store";
import type { Tracer } from "@opentelemetry/api";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { createDeliveryAgent } from "./agent.js";
import { createAttempt } from "./attempt.js";
import { createDispatcher, type DispatcherDeps } from "./dispatcher.js";
import { briskConcurrency, endpointConcurrency } from "./endpoint-concurrency.js";
import { createFirstAttempts } from "./first-attempts.js";
import { workerMetrics } from "./metrics.js";
import { createDeliveryWorker } from "./worker.js";

export interface StartWorkerOptions {
  config: ImrelayConfig;
  logger: Logger;
  /** The worker's metrics are registered here (once, so the gateway may share it). */
  registry: Registry;
  /** A Redis node to use instead of the config's (`redis.url` or `redis.cluster`). */
  redisUrl?: string;
  /** The partitions this worker dispatches and delivers. @default every partition */
  partitions?: readonly number[];
  /** ms since the epoch. @default Date.now */
  clock?: () => number;
  /** Dispatcher timing: how long an orphaned entry waits before it is claimed, how often to look, how long a read blocks. */
  dispatcher?: Pick<DispatcherDeps, "claimIdleMs" | "claimIntervalMs" | "blockMs" | "replicaTimeoutMs" | "lingerMs">;
  /** Traces each delivery attempt (README "Tracing"). @default none: no spans, no cost */
  tracer?: Tracer | undefined;
}

export interface RunningWorker {
  /**
   * Stops dispatching, lets in-flight deliveries finish, and closes its Redis
   * connections (dropping them when Redis is away). A delivery that finishes
   * while Redis is away waits for Redis to record it, so bound this with a
   * deadline and `handBack()` what is left.
   */
  close(): Promise<void>;
  /** The job ids of the deliveries being sent right now. */
  inFlight(): string[];
  /** Gives the deliveries in flight back to the queue for another worker; see `DeliveryWorker.handBack`. */
  handBack(): Promise<{ handedBack: string[]; kept: string[] }>;
}

/**
 * Runs a worker process's whole share: the dispatcher (ingest streams → jobs)
 * and the delivery workers, for every partition (or those given), on
 * connections of its own. Any number may run against one Redis or cluster.
 * Refuses to start (PartitionCountError) when Redis holds data written with
 * another `redis.partitions`.
 *
 * @example
 * const worker = await startWorker({ config, logger, registry });
 * process.once("SIGTERM", () => worker.close());
 */
export async function startWorker(options: StartWorkerOptions): Promise<RunningWorker> {
  const { config, logger, registry, clock } = options;
  const keys = redisKeys(config.redis.prefix, config.redis.partitions);
  const partitions = options.partitions ?? allPartitions(keys);
  const unknown = partitions.filter((p) => !Number.isInteger(p) || p < 0 || p >= keys.partitions);
  if (unknown.length > 0) {
    throw new RangeError(`no partition ${unknown.join(", ")}: partitions are 0 to ${keys.partitions - 1}`);
  }
  // BullMQ requires maxRetriesPerRequest: null: its blocking commands must wait out a reconnect.
  const connection = createRedisClient(options.redisUrl ? { url: options.redisUrl } : config.redis, {
    maxRetriesPerRequest: null,
  });
  connection.on("error", (err: Error) => logger.warn({ err: err.message }, "worker redis connection error"));
  const log = logger.child({ component: "worker" });
  try {
    await checkRedisLayout(connection, keys);
  } catch (err) {
    connection.disconnect();
    throw err;
  }

  const queues = createDeliveryQueues(connection, keys, config);
  const batchQueues = createBatchQueues(connection, keys);
  const metrics = workerMetrics(registry);
  // One keep-alive pool for first attempts and retries alike: as many sockets per origin as both may have in flight.
  const agent = createDeliveryAgent({
    allowPrivateNetworks: config.delivery.allowPrivateNetworks,
    timeoutMs: config.delivery.timeoutMs,
    connections: 2 * config.delivery.concurrency,
    dnsCacheMs: config.delivery.dnsCacheMs,
  });
  // One attempt for first attempts, retries and batches: one set of metric series, one agent.
  const attempt = createAttempt({ config, redis: connection, keys, logger: log, metrics, dispatcher: agent, clock });
  const delivery = createDeliveryWorker({
    config,
    connection,
    keys,
    partitions,
    logger: log,
    metrics,
    dispatcher: agent,
    attempt,
    queues,
    tracer: options.tracer,
    ...(clock ? { clock } : {}),
  });
  const firstAttempts = createFirstAttempts({
    attempt,
    concurrency: config.delivery.concurrency,
    endpointConcurrency: endpointConcurrency(config.delivery),
    briskConcurrency: briskConcurrency(config.delivery),
    retrySchedule: config.delivery.retrySchedule,
    tracer: options.tracer,
    ...(clock ? { clock } : {}),
  });
  const dispatcher = createDispatcher({
    // An entry a dead worker held is taken over as its jobs are: within lockDuration + stalledInterval.
    claimIdleMs: config.delivery.lockDuration,
    claimIntervalMs: config.delivery.stalledInterval,
    ...options.dispatcher,
    config,
    redis: connection,
    queues,
    batchQueues,
    keys,
    partitions,
    logger: log,
    metrics,
    firstAttempts,
  });
  const closeQueues = () => Promise.all([...queues, ...batchQueues].map((queue) => closeDeliveryQueue(queue)));
  try {
    await dispatcher.start();
  } catch (err) {
    await delivery.close();
    await agent.destroy();
    await closeQueues();
    connection.disconnect();
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= (async () => {
        // Both stop taking work at once, then let what they have in hand finish: a delivery handed
        // back at a deadline is then left to another worker, never taken up again by this one.
        await Promise.all([dispatcher.close(), delivery.close()]);
        if (connection.status === "ready") await agent.close();
        else await agent.destroy();
        await closeQueues();
        await closeRedis(connection);
      })();
      return closing;
    },
    inFlight: () => [...dispatcher.inFlight(), ...delivery.inFlight()],
    async handBack() {
      const [first, queued] = await Promise.all([
        dispatcher.handBack().then(
          (ids) => ({ handedBack: ids, kept: [] as string[] }),
          () => ({ handedBack: [] as string[], kept: dispatcher.inFlight() }),
        ),
        delivery.handBack(),
      ]);
      return { handedBack: [...first.handedBack, ...queued.handedBack], kept: [...first.kept, ...queued.kept] };
    },
  };
}
