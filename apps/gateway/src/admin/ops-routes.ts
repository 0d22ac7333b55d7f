import type { DeliveryJobState } from "@imrelay/store";
import type { Queue } from "bullmq";
import { mountDeliveryRoutes } from "./deliveries-routes.js";
import { mountEndpointRoutes } from "./endpoints-routes.js";
import { mountQueueDashboard } from "./queue-dashboard.js";
import type { MountAdmin } from "./routes.js";
import { mountUnrecognizedRoutes } from "./unrecognized-routes.js";

/**
 * The operator's admin routes: dead letters and replay, endpoint state,
 * unrecognized callbacks, and the queue dashboard. Every one sits behind
 * the admin token.
 *
 * @example
 * startGateway({ config, logger, registry, mountAdmin: opsRoutes({ queue }) });
 */
export function opsRoutes({ queue }: { queue: Queue<DeliveryJobState> }): MountAdmin {
  return (app, ctx) => {
    mountDeliveryRoutes(app, ctx, { queue });
    mountEndpointRoutes(app, ctx);
    mountUnrecognizedRoutes(app, ctx);
    mountQueueDashboard(app, ctx, [queue as Queue]);
  };
}
