import type { DeliveryJobState } from "@imrelay/store";
import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
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
 * startGateway({ config, logger, registry, mountAdmin: opsRoutes({ queue, connection: queueRedis }) });
 */
export function opsRoutes({ queue, connection }: { queue: Queue<DeliveryJobState>; connection: Redis }): MountAdmin {
  return (app, adminCtx) => {
    // These routes use the queue's connection as well as the gateway's.
    const ctx = { ...adminCtx, requireStore: storeGuard([adminCtx.redis, connection]) };
    mountDeliveryRoutes(app, ctx, { queue });
    mountEndpointRoutes(app, ctx);
    mountUnrecognizedRoutes(app, ctx);
    mountQueueDashboard(app, ctx, [queue as Queue]);
  };
}
