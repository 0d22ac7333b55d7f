import type { Server } from "node:http";
import type { ImrelayConfig } from "@imrelay/config";
import { CallbackError } from "@imrelay/core";
import {
  checkRedisLayout,
  closeRedis as closeConnection,
  closeDeliveryQueue,
  createBatchQueues,
  createDeliveryQueues,
  type Ingest,
  PartitionCountError,
  RedisModeError,
  redisKeys,
} from "@imrelay/store";
import type { Tracer } from "@opentelemetry/api";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { opsRoutes } from "./admin/ops-routes.js";
import type { MountAdmin } from "./admin/routes.js";
import { GATEWAY_VENDORS, type Vendor } from "./callbacks/vendor.js";
import { createGatewayHttpServer } from "./http/http-server.js";
import { createGatewayIngest } from "./ingest.js";
import { GATEWAY_REDACT_PATHS } from "./logging.js";
import { gatewayMetrics } from "./metrics.js";
import { createExpirySweeper } from "./presence/expiry.js";
import { createGraceSweeper } from "./presence/grace.js";
import { registerQueueMetrics } from "./queue-metrics.js";
import { createIngestRedis, whenReady } from "./redis.js";
import { createServer } from "./server.js";

/** Why a gateway refuses to work with the Redis it reached. */
export type LayoutRefusal = PartitionCountError | RedisModeError;

export interface StartGatewayOptions {
  config: ImrelayConfig;
  logger: Logger;
  registry: Registry;
  /** ms since the epoch. @default Date.now */
  clock?: () => number;
  /** More admin routes (dead letters, queue dashboard). */
  mountAdmin?: MountAdmin;
  /** The vendors served. @default the registry's (`@imrelay/vendors`) */
  vendors?: readonly Vendor[];
  /** Traces callbacks and their enqueue (README "Tracing"). @default none: no spans, no cost */
  tracer?: Tracer | undefined;
  /**
   * Called when Redis, first reached after start-up, holds data written with
   * another `redis.partitions` (or is a cluster node configured as one node):
   * the gateway has stopped taking callbacks and should be closed. (When Redis
   * answers at start-up, `startGateway` throws instead.)
   */
  onFatal?: (err: LayoutRefusal) => void;
}

export interface RunningGateway {
  /** The port listened on (the real one when `gateway.port` is 0). */
  port: number;
  server: Server;
  /**
   * Stops taking callbacks (a callback on a connection still open is answered
   * 503 in its vendor's envelope), lets the requests in flight finish (for at
   * most `shutdownTimeoutMs`), stops the sweeper, then closes Redis without
   * waiting on a Redis that is away. Safe to call more than once.
   */
  close(): Promise<void>;
  /** Cuts every connection at once, for a shutdown out of time; returns how many requests it cut off. */
  closeNow(): number;
}

/** How long start-up waits for Redis before listening anyway (readyz says 503 until it answers). */
const REDIS_START_WAIT_MS = 5000;
/** How long an admin call may wait on the queue's Redis before it answers 503. */
const QUEUE_COMMAND_TIMEOUT_MS = 2000;

/**
 * Runs the gateway: Redis connection, HTTP server on `gateway.host:port` with
 * its limits (timeouts, header size, connection cap), the OpenIM expiry sweeper and
 * the sweeper that releases offlines held for `presence.offlineGrace`.
 *
 * @example
 * const gateway = await startGateway({ config, logger, registry: new Registry() });
 * process.once("SIGTERM", () => gateway.close());
 */
export async function startGateway(options: StartGatewayOptions): Promise<RunningGateway> {
  const { config, registry } = options;
  const logger = options.logger.child(
    { component: "gateway" },
    { redact: { paths: GATEWAY_REDACT_PATHS, censor: "[redacted]" } },
  );
  const clock = options.clock ?? Date.now;
  const keys = redisKeys(config.redis.prefix, config.redis.partitions);
  const redis = createIngestRedis(config.redis);
  let lastRedisError = 0;
  redis.on("error", (err: Error) => {
    // A Redis outage raises an error per reconnect attempt: say it, not hundreds of times.
    if (Date.now() - lastRedisError < 10_000) return;
    lastRedisError = Date.now();
    logger.warn({ redisError: err.message }, "Redis connection error; callbacks answer 503 until it is back");
  });
  // The admin API and dashboard read the delivery queues on a connection of their own, off the ingest path;
  // like the ingest one it fails at once while Redis is away, so an admin call says 503 instead of waiting.
  const queueRedis = createIngestRedis(config.redis, { commandTimeout: QUEUE_COMMAND_TIMEOUT_MS });
  queueRedis.on("error", () => {}); // the ingest connection already reports outages
  /** Set when Redis turns out not to be what the config says: every callback is refused from then on. */
  let refused: LayoutRefusal | undefined;
  const ready = await Promise.all([whenReady(redis, REDIS_START_WAIT_MS), whenReady(queueRedis, REDIS_START_WAIT_MS)]);
  if (ready[0]) {
    try {
      await checkRedisLayout(redis, keys);
    } catch (err) {
      redis.disconnect();
      queueRedis.disconnect();
      throw err;
    }
  }
  if (!ready.every(Boolean)) {
    logger.warn("Redis is not answering yet; the gateway listens and answers 503 until it is");
  }
  if (!ready[0]) {
    redis.once("ready", () => {
      checkRedisLayout(redis, keys).catch((err: unknown) => {
        if (!(err instanceof PartitionCountError || err instanceof RedisModeError)) return;
        refused = err;
        logger.fatal({ code: err.code }, err.message);
        options.onFatal?.(err);
      });
    });
  }

  const metrics = gatewayMetrics(registry);
  const vendors = options.vendors ?? GATEWAY_VENDORS;
  const graceSweeper = createGraceSweeper({ redis, keys, config, clock, logger, metrics });
  const ingestOnce = createGatewayIngest({ redis, keys, config, vendors });
  const ingest: Ingest = async (event, ingestOptions) => {
    if (refused) {
      const what = refused.code === "PARTITIONS_MISMATCH" ? "redis.partitions does not" : "Redis settings do not";
      throw new CallbackError("STORE_UNAVAILABLE", `the gateway's ${what} match Redis: the event was not queued`);
    }
    const result = await ingestOnce(event, ingestOptions);
    // The sweeper would find a hold within sweepInterval anyway; told, it releases it when its grace ends.
    if (result.outcome === "held") graceSweeper.wake(Date.parse(event.receivedAt) + config.presence.offlineGrace);
    return result;
  };
  const queues = createDeliveryQueues(queueRedis, keys, config);
  const batchQueues = createBatchQueues(queueRedis, keys);
  registerQueueMetrics(registry, { queues, batchQueues, redis, keys });
  const ops = opsRoutes({ queues, batchQueues, connection: queueRedis });
  const listener = createServer({
    config,
    redis,
    keys,
    logger: options.logger,
    registry,
    clock,
    ingest,
    vendors,
    metrics,
    tracer: options.tracer,
    mountAdmin: (app, ctx) => {
      ops(app, ctx);
      options.mountAdmin?.(app, ctx);
    },
  });
  const sweeper = createExpirySweeper({ redis, keys, config, ingest, clock, logger, metrics, vendors });

  /** The queue first, then QUIT, which lets commands in flight (BullMQ's own start-up ones too) finish. */
  async function closeRedis() {
    await Promise.all([...queues, ...batchQueues].map((queue) => closeDeliveryQueue(queue)));
    await Promise.all([closeConnection(redis), closeConnection(queueRedis)]);
  }

  let server: Server;
  try {
    server = await new Promise<Server>((resolve, reject) => {
      const listening = createGatewayHttpServer(listener, {
        gateway: config.gateway,
        logger,
        onDrop: () => metrics.connectionsDropped.inc(),
      });
      listening.once("listening", () => resolve(listening));
      listening.once("error", reject);
      listening.listen(config.gateway.port, config.gateway.host);
    });
  } catch (err) {
    // A port already in use must not leave a Redis connection reconnecting behind it.
    await closeRedis();
    throw err;
  }
  sweeper.start();
  graceSweeper.start();
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.gateway.port;

  let closing: Promise<void> | undefined;
  async function shutdown() {
    listener.drain();
    const drained = new Promise<void>((resolve) => {
      const force = setTimeout(() => server.closeAllConnections(), config.shutdownTimeoutMs);
      // close() drops only the connections idle at that moment; a keep-alive
      // connection whose request was in flight goes idle later.
      const idle = setInterval(() => server.closeIdleConnections(), 50);
      force.unref();
      server.close(() => {
        clearTimeout(force);
        clearInterval(idle);
        resolve();
      });
      server.closeIdleConnections();
    });
    await Promise.all([drained, sweeper.stop(), graceSweeper.stop()]);
    await closeRedis();
  }

  return {
    port,
    server,
    close: () => {
      closing ??= shutdown();
      return closing;
    },
    closeNow: () => {
      const cut = listener.inFlight();
      listener.drain();
      server.closeAllConnections();
      return cut;
    },
  };
}
