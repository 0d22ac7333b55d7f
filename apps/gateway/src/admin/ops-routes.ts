import type { DeliveryJobState, RedisClient } from "@imrelay/store";
import type { Queue } from "bullmq";
import { mountDeliveryRoutes } from "./deliveries-routes.js";
import { mountEndpointRoutes } from "./endpoints-routes.js";
import { mountQueueDashboard } from "./queue-dashboard.js";
import type { MountAdmin } from "./routes.js";
import { storeGuard } from "./store-guard.js";
import { mountUnrecognizedRoutes } from "./unrecognized-routes.js";

/**
 * The operator's admin routes: dead letters and replay, endpoint state,
 * unrecognized callbacks, and the queue dashboard. Every one sits behind
 * the admin token.
 *
 * @example
 * startGateway({ config, logger, registry, mountAdmin: opsRoutes({ queues, connection: queueRedis }) });
 */
export function opsRoutes({
  queues,
  batchQueues = [],
  connection,
}: {
  queues: ReadonlyArray<Queue<DeliveryJobState>>;
  /** Shown on the dashboard beside the delivery queues (`createBatchQueues`). */
  batchQueues?: readonly Queue[];
  connection: RedisClient;
}): MountAdmin {
  return (app, adminCtx) => {
    // These routes use the queues' connection as well as the gateway's.
    const ctx = { ...adminCtx, requireStore: storeGuard([adminCtx.redis, connection]) };
    mountDeliveryRoutes(app, ctx, { queues });
    mountEndpointRoutes(app, ctx);
    mountUnrecognizedRoutes(app, ctx);
    mountQueueDashboard(app, ctx, queues as ReadonlyArray<Queue>, batchQueues);
  };
}
