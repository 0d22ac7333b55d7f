import { findEndpoint } from "@imrelay/config";
import { type DeliveryJobState, isEndpointDisabled } from "@imrelay/store";
import type { Job, JobType, Queue } from "bullmq";
import type { Express } from "express";
import { adminError } from "./auth.js";
import { deliveryView } from "./delivery-view.js";
import type { AdminContext } from "./routes.js";

const STATES = ["failed", "delayed", "waiting", "active", "completed"] as const satisfies readonly JobType[];
type ListState = (typeof STATES)[number];
const PAGE_MAX = 500;

/** What the delivery admin routes need beyond the admin context. */
export interface DeliveriesDeps {
  /** Every partition's delivery queue: a job may be in any of them. */
  queues: ReadonlyArray<Queue<DeliveryJobState>>;
}

function intParam(value: unknown, fallback: number, max: number): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 && n <= max ? n : undefined;
}

/** Is the endpoint of this job disabled (in the config, or at run time)? Retrying it would only fail again. */
async function disabledReason(ctx: AdminContext, tenant: string, endpointId: string): Promise<string | undefined> {
  const endpoint = findEndpoint(ctx.config, tenant, endpointId);
  if (endpoint && !endpoint.enabled) return "it is disabled in the config";
  const runtime = await isEndpointDisabled(ctx.redis, ctx.keys, tenant, endpointId);
  return runtime ? "it is disabled (POST …/enable to resume it)" : undefined;
}

type Page = { jobs: Job<DeliveryJobState>[]; total: number };

/**
 * When a job entered its state, as BullMQ orders each state newest first:
 * finished jobs by when they finished, delayed ones by when they are due,
 * the others by when they were added or taken.
 */
function stateTime(job: Job<DeliveryJobState>, state: ListState): number {
  if (state === "failed" || state === "completed") return job.finishedOn ?? job.timestamp;
  if (state === "delayed") return job.timestamp + (job.delay ?? 0);
  if (state === "active") return job.processedOn ?? job.timestamp;
  return job.timestamp;
}

/** Newest first across the partitions' queues; a stable sort keeps each queue's own order on a tie. */
function newestFirst(jobs: Job<DeliveryJobState>[], state: ListState): Job<DeliveryJobState>[] {
  return jobs.sort((a, b) => stateTime(b, state) - stateTime(a, state));
}

const hasData = (job: Job<DeliveryJobState> | undefined): job is Job<DeliveryJobState> => Boolean(job?.data);

async function wholePage(
  queues: DeliveriesDeps["queues"],
  state: ListState,
  offset: number,
  limit: number,
): Promise<Page> {
  const total = (await Promise.all(queues.map((queue) => queue.getJobCountByTypes(state)))).reduce((a, b) => a + b, 0);
  // The range would end at offset - 1, and Redis reads an end of -1 as "to the last": limit=0 would list every job.
  if (limit === 0 || offset >= total) return { jobs: [], total };
  // The page's jobs are among the first offset + limit of some queues: read those, merge, cut.
  const heads = await Promise.all(queues.map((queue) => queue.getJobs([state], 0, offset + limit - 1, false)));
  const merged = newestFirst(heads.flat().filter(hasData), state);
  return { jobs: merged.slice(offset, offset + limit), total };
}

/**
 * A page of the jobs that match a filter, and how many match. BullMQ keeps no
 * index by tenant or endpoint, so every queue's whole state is read in pages:
 * paging first and filtering after would give short or empty pages, and a
 * total that counts other endpoints' jobs.
 */
async function filteredPage(
  queues: DeliveriesDeps["queues"],
  state: ListState,
  offset: number,
  limit: number,
  match: (data: DeliveryJobState) => boolean,
): Promise<Page> {
  const matching: Job<DeliveryJobState>[] = [];
  for (const queue of queues) {
    for (let start = 0; ; start += PAGE_MAX) {
      const page = await queue.getJobs([state], start, start + PAGE_MAX - 1, false);
      if (page.length === 0) break;
      for (const job of page) if (hasData(job) && match(job.data)) matching.push(job);
    }
  }
  return { jobs: newestFirst(matching, state).slice(offset, offset + limit), total: matching.length };
}

/** The job with this id in whichever partition's queue holds it. */
async function findJob(queues: DeliveriesDeps["queues"], id: string): Promise<Job<DeliveryJobState> | undefined> {
  const found = await Promise.all(queues.map((queue) => queue.getJob(id)));
  return found.find(hasData);
}

async function retryJob(job: Job<DeliveryJobState>) {
  // A replay is a fresh run of the whole schedule, not one last attempt.
  await job.retry("failed", { resetAttemptsMade: true, resetAttemptsStarted: true });
}

/**
 * Dead letters and replay, as Svix and Convoy have them:
 * - `GET /v1/deliveries?state=failed&tenant=&endpoint=&limit=&offset=` (`total` counts what the filters match)
 * - `GET /v1/deliveries/:id`
 * - `POST /v1/deliveries/:id/retry`
 * - `POST /v1/tenants/:tenant/endpoints/:endpoint/recover` `{ since }`: replay every dead letter of an endpoint since a time
 */
export function mountDeliveryRoutes(app: Express, ctx: AdminContext, { queues }: DeliveriesDeps) {
  const { requireAdmin } = ctx;

  app.get("/v1/deliveries", requireAdmin, async (req, res) => {
    const state = String(req.query.state ?? "failed") as ListState;
    if (!STATES.includes(state)) {
      adminError(res, 400, "INVALID_STATE", `state must be one of ${STATES.join(", ")}`);
      return;
    }
    const limit = intParam(req.query.limit, 50, PAGE_MAX);
    const offset = intParam(req.query.offset, 0, Number.MAX_SAFE_INTEGER);
    if (limit === undefined || offset === undefined) {
      adminError(res, 400, "INVALID_PAGE", `limit must be 0-${PAGE_MAX} and offset a whole number`);
      return;
    }
    const tenant = req.query.tenant === undefined ? undefined : String(req.query.tenant);
    const endpoint = req.query.endpoint === undefined ? undefined : String(req.query.endpoint);
    const { jobs, total } =
      tenant === undefined && endpoint === undefined
        ? await wholePage(queues, state, offset, limit)
        : await filteredPage(
            queues,
            state,
            offset,
            limit,
            (data) => (!tenant || data.tenant === tenant) && (!endpoint || data.endpointId === endpoint),
          );
    const deliveries = jobs.map((job) => deliveryView(job, state));
    res.json({ state, total, offset, limit, deliveries });
  });

  app.get("/v1/deliveries/:id", requireAdmin, async (req, res) => {
    const job = await findJob(queues, String(req.params.id));
    if (!job) {
      adminError(res, 404, "DELIVERY_NOT_FOUND", `no delivery "${req.params.id}"`);
      return;
    }
    res.json({ ...deliveryView(job, await job.getState()), event: job.data.event });
  });

  app.post("/v1/deliveries/:id/retry", requireAdmin, async (req, res) => {
    const job = await findJob(queues, String(req.params.id));
    if (!job) {
      adminError(res, 404, "DELIVERY_NOT_FOUND", `no delivery "${req.params.id}"`);
      return;
    }
    const state = await job.getState();
    if (state !== "failed") {
      adminError(res, 409, "NOT_A_DEAD_LETTER", `delivery "${job.id}" is ${state}, not failed: nothing to retry`);
      return;
    }
    const disabled = await disabledReason(ctx, job.data.tenant, job.data.endpointId);
    if (disabled) {
      adminError(res, 409, "ENDPOINT_DISABLED", `endpoint "${job.data.endpointId}" would refuse it: ${disabled}`);
      return;
    }
    await retryJob(job);
    res.status(202).json({ ...deliveryView(job, "waiting"), state: "waiting" });
  });

  app.post("/v1/tenants/:tenant/endpoints/:endpoint/recover", requireAdmin, async (req, res) => {
    const tenant = String(req.params.tenant);
    const endpointId = String(req.params.endpoint);
    if (!findEndpoint(ctx.config, tenant, endpointId)) {
      adminError(res, 404, "UNKNOWN_ENDPOINT", `tenant "${tenant}" has no endpoint "${endpointId}"`);
      return;
    }
    const since = Date.parse(String(req.body?.since ?? ""));
    if (!Number.isFinite(since)) {
      adminError(res, 400, "INVALID_SINCE", 'body must be {"since": "<ISO time>"}');
      return;
    }
    const disabled = await disabledReason(ctx, tenant, endpointId);
    if (disabled) {
      adminError(res, 409, "ENDPOINT_DISABLED", `endpoint "${endpointId}" would refuse them: ${disabled}`);
      return;
    }
    // Retrying moves jobs out of the failed set, so always read its head until nothing matches in a page.
    let retried = 0;
    for (const queue of queues) {
      let offset = 0;
      for (;;) {
        const page = await queue.getFailed(offset, offset + PAGE_MAX - 1);
        if (page.length === 0) break;
        let kept = 0;
        for (const job of page) {
          const match =
            job?.data?.tenant === tenant &&
            job.data.endpointId === endpointId &&
            (job.finishedOn ?? job.timestamp) >= since;
          if (match) {
            await retryJob(job);
            retried++;
          } else kept++;
        }
        offset += kept;
        if (page.length < PAGE_MAX) break;
      }
    }
    res.status(202).json({ tenant, endpointId, since: new Date(since).toISOString(), retried });
  });
}
