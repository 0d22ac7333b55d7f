import { createHash, timingSafeEqual } from "node:crypto";
import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { ExpressAdapter } from "@bull-board/express";
import type { Queue } from "bullmq";
import type { Express, RequestHandler } from "express";
import { adminError } from "./auth.js";
import type { AdminContext } from "./routes.js";

export const DASHBOARD_PATH = "/admin/queues";

const digest = (value: string) => createHash("sha256").update(value).digest();

/**
 * The dashboard is opened in a browser, which cannot add a bearer header; so
 * besides `Bearer <token>` it takes HTTP Basic auth with the token as the
 * password (any user name), and asks the browser for it.
 */
function dashboardAuth(token: string | undefined, bearer: RequestHandler): RequestHandler {
  const expected = token ? digest(token) : undefined;
  return (req, res, next) => {
    const basic = /^Basic[ \t]+(\S+)$/i.exec(req.headers.authorization ?? "");
    if (!expected || !basic) {
      if (expected && !req.headers.authorization) {
        res.setHeader("www-authenticate", 'Basic realm="imrelay admin", charset="UTF-8"');
        adminError(res, 401, "UNAUTHORIZED", "the admin token is required (as Bearer, or as the Basic auth password)");
        return;
      }
      bearer(req, res, next);
      return;
    }
    const decoded = Buffer.from(basic[1]!, "base64").toString("utf8");
    const password = decoded.slice(decoded.indexOf(":") + 1);
    if (!timingSafeEqual(digest(password), expected)) {
      res.setHeader("www-authenticate", 'Basic realm="imrelay admin", charset="UTF-8"');
      adminError(res, 401, "UNAUTHORIZED", "the admin token is required (as Bearer, or as the Basic auth password)");
      return;
    }
    next();
  };
}

/** bull-board at `/admin/queues`, behind the admin token. */
export function mountQueueDashboard(app: Express, ctx: AdminContext, queues: Queue[]) {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({ queues: queues.map((q) => new BullMQAdapter(q)), serverAdapter });
  app.use(DASHBOARD_PATH, dashboardAuth(ctx.config.admin.token, ctx.requireAdmin), serverAdapter.getRouter());
}
