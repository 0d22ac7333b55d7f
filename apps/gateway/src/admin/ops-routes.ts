import type { DeliveryJobState } from "@imrelay/store";
import type { Queue } from "bullmq";
import express from "express";
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
 * startGateway({ config, logger, registry, mountAdmin: opsRoutes({ queues }) });
 */
export function opsRoutes({ queues }: { queues: ReadonlyArray<Queue<DeliveryJobState>> }): MountAdmin {
  return (app, ctx) => {
    // Admin bodies are small JSON; callbacks never pass through here (they read their raw body themselves).
    app.use(["/v1/deliveries", "/v1/tenants/:tenant/endpoints"], express.json({ limit: "16kb" }));
    mountDeliveryRoutes(app, ctx, { queues });
    mountEndpointRoutes(app, ctx);
    mountUnrecognizedRoutes(app, ctx);
    mountQueueDashboard(app, ctx, queues as ReadonlyArray<Queue>);
  };
}
