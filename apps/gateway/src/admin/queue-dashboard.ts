import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { ExpressAdapter } from "@bull-board/express";
import type { Queue } from "bullmq";
import type { Express, RequestHandler, Response } from "express";
import { adminError, adminTokenMatcher } from "./auth.js";
import { defineOperation } from "./operation.js";
import type { AdminContext } from "./routes.js";

export const DASHBOARD_PATH = "/admin/queues";

/** The dashboard's page, as the OpenAPI document lists it (bull-board serves it and its assets). */
export const dashboardOperation = defineOperation({
  id: "queueDashboard",
  method: "get",
  path: DASHBOARD_PATH,
  tag: "deliveries",
  summary: "The queue dashboard (bull-board), for a browser",
  description: "Also takes HTTP Basic auth with the admin token as the password (any user name).",
  basicAuth: true,
  responses: { 200: { description: "the dashboard's page", contentType: "text/html" } },
});

/**
 * The dashboard is opened in a browser, which cannot add a bearer header; so
 * besides `Bearer <token>` it takes HTTP Basic auth with the token as the
 * password (any user name), and asks the browser for it.
 */
function dashboardAuth(token: string | undefined, bearer: RequestHandler): RequestHandler {
  const matches = adminTokenMatcher(token);
  const askForBasic = (res: Response) => {
    res.setHeader("www-authenticate", 'Basic realm="imrelay admin", charset="UTF-8"');
    adminError(res, 401, "UNAUTHORIZED", "the admin token is required (as Bearer, or as the Basic auth password)");
  };
  return (req, res, next) => {
    const basic = /^Basic[ \t]+(\S+)$/i.exec(req.headers.authorization ?? "");
    // No token configured, or a Bearer header: the admin guard answers (404 when off).
    if (!matches || (!basic && req.headers.authorization)) return bearer(req, res, next);
    if (!basic) return askForBasic(res);
    const decoded = Buffer.from(basic[1]!, "base64").toString("utf8");
    if (!matches(decoded.slice(decoded.indexOf(":") + 1))) return askForBasic(res);
    next();
  };
}

/**
 * bull-board at `/admin/queues`, behind the admin token: one row per
 * partition's queue (`p00-deliveries`, `p01-deliveries`, …), index = partition,
 * then the partitions' batch queues (`p00-batches`, …) when given.
 */
export function mountQueueDashboard(
  app: Express,
  ctx: AdminContext,
  queues: ReadonlyArray<Queue>,
  batchQueues: ReadonlyArray<Queue> = [],
) {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(DASHBOARD_PATH);
  const width = String(Math.max(queues.length - 1, 0)).length;
  // Every partition's queue has the same BullMQ name: the board tells them apart by the partition.
  const rows = (list: ReadonlyArray<Queue>) =>
    list.map((q, p) => new BullMQAdapter(q, { prefix: `p${String(p).padStart(width, "0")}-` }));
  createBullBoard({ queues: [...rows(queues), ...rows(batchQueues)], serverAdapter });
  const auth = dashboardAuth(ctx.config.admin.token, ctx.requireAdmin);
  // The page itself loads without Redis; its API calls say 503 rather than wait on BullMQ.
  app.use(`${DASHBOARD_PATH}/api`, auth, ctx.requireStore);
  app.use(DASHBOARD_PATH, auth, serverAdapter.getRouter());
}
