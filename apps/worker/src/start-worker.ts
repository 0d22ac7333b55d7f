import type { ImrelayConfig } from "@imrelay/config";
import { closeDeliveryQueue, closeRedis, createDeliveryQueue, redisKeys } from "@imrelay/store";
import type { Tracer } from "@opentelemetry/api";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { createDispatcher, type DispatcherDeps } from "./dispatcher.js";
import { workerMetrics } from "./metrics.js";
import { createDeliveryWorker } from "./worker.js";

export interface StartWorkerOptions {
  config: ImrelayConfig;
  logger: Logger;
  /** The worker's metrics are registered here (once, so the gateway may share it). */
  registry: Registry;
  /** @default config.redis.url */
  redisUrl?: string;
  /** ms since the epoch. @default Date.now */
  clock?: () => number;
  /** Dispatcher timing: how long an orphaned entry waits before it is claimed, how often to look, how long a read blocks. */
  dispatcher?: Pick<DispatcherDeps, "claimIdleMs" | "claimIntervalMs" | "blockMs">;
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
 * Runs a worker process's whole share: the dispatcher (ingest stream → jobs)
 * and the delivery worker, on connections of its own. Any number may run
 * against one Redis.
 *
 * @example
 * const worker = await startWorker({ config, logger, registry });
 * process.once("SIGTERM", () => worker.close());
 */
export async function startWorker(options: StartWorkerOptions): Promise<RunningWorker> {
  const { config, logger, registry, clock } = options;
  const keys = redisKeys(config.redis.prefix);
  // BullMQ requires maxRetriesPerRequest: null: its blocking commands must wait out a reconnect.
  const connection = new Redis(options.redisUrl ?? config.redis.url, { maxRetriesPerRequest: null });
  connection.on("error", (err) => logger.warn({ err: err.message }, "worker redis connection error"));
  const log = logger.child({ component: "worker" });

  const queue = createDeliveryQueue(connection, keys, config);
  const metrics = workerMetrics(registry);
  const delivery = createDeliveryWorker({
    config,
    connection,
    keys,
    logger: log,
    metrics,
    tracer: options.tracer,
    ...(clock ? { clock } : {}),
  });
  const dispatcher = createDispatcher({
    ...options.dispatcher,
    config,
    redis: connection,
    queue,
    keys,
    logger: log,
    metrics,
  });
  try {
    await dispatcher.start();
  } catch (err) {
    await delivery.close();
    await closeDeliveryQueue(queue);
    connection.disconnect();
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= (async () => {
        // Dispatcher first: nothing new is queued while the deliveries in hand finish.
        await dispatcher.close();
        await delivery.close();
        await closeDeliveryQueue(queue);
        await closeRedis(connection);
      })();
      return closing;
    },
    inFlight: () => delivery.inFlight(),
    handBack: () => delivery.handBack(),
  };
}
