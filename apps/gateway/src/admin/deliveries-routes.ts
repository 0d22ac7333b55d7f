import { findEndpoint } from "@imrelay/config";
import {
  allPartitions,
  countDelivered,
  DELIVERY_BATCH_JOB_NAME,
  type DeliveredRecord,
  type DeliveryJobState,
  deliveryJobOptions,
  findDelivered,
  isEndpointDisabled,
  readDelivered,
} from "@imrelay/store";
import type { Job, Queue } from "bullmq";
import type { Express } from "express";
import { adminError } from "./auth.js";
import { type DeliveryView, deliveredEvent, deliveredView, deliveryView } from "./delivery-view.js";
import { defineOperation, mountOperation } from "./operation.js";
import type { AdminContext } from "./routes.js";
import {
  AdminErrorBody,
  type DELIVERY_LIST_STATES,
  DELIVERY_PAGE_MAX,
  Delivery,
  DeliveryDetail,
  DeliveryList,
  DeliveryListQuery,
  DeliveryParams,
  EndpointParams,
  RecoverAnswer,
  RecoverBody,
} from "./schemas.js";

type ListState = (typeof DELIVERY_LIST_STATES)[number];
const PAGE_MAX = DELIVERY_PAGE_MAX;

const notFound = { description: "no such delivery (`DELIVERY_NOT_FOUND`)", schema: AdminErrorBody };

export const listDeliveries = defineOperation({
  id: "listDeliveries",
  method: "get",
  path: "/v1/deliveries",
  tag: "deliveries",
  summary: "Deliveries in one state: `failed` (the default) lists the dead letters",
  query: DeliveryListQuery,
  invalidCodes: { "query.state": "INVALID_STATE", "query.limit": "INVALID_PAGE", "query.offset": "INVALID_PAGE" },
  responses: {
    200: { description: "a page of deliveries, newest first", schema: DeliveryList },
    400: { description: "a bad state (`INVALID_STATE`), limit or offset (`INVALID_PAGE`)", schema: AdminErrorBody },
  },
});

export const getDelivery = defineOperation({
  id: "getDelivery",
  method: "get",
  path: "/v1/deliveries/:id",
  tag: "deliveries",
  summary: "One delivery, with its event",
  params: DeliveryParams,
  responses: { 200: { description: "the delivery", schema: DeliveryDetail }, 404: notFound },
});

export const retryDelivery = defineOperation({
  id: "retryDelivery",
  method: "post",
  path: "/v1/deliveries/:id/retry",
  tag: "deliveries",
  summary: "Replay one dead letter: a fresh run of the whole retry schedule",
  params: DeliveryParams,
  responses: {
    202: { description: "queued again", schema: Delivery },
    404: notFound,
    409: {
      description: "not a dead letter (`NOT_A_DEAD_LETTER`), or its endpoint is disabled (`ENDPOINT_DISABLED`)",
      schema: AdminErrorBody,
    },
  },
});

export const recoverEndpoint = defineOperation({
  id: "recoverEndpoint",
  method: "post",
  path: "/v1/tenants/:tenant/endpoints/:endpoint/recover",
  tag: "deliveries",
  summary: "Replay every dead letter of an endpoint since a time",
  params: EndpointParams,
  body: RecoverBody,
  invalidCodes: { "body.since": "INVALID_SINCE" },
  responses: {
    202: { description: "how many were queued again", schema: RecoverAnswer },
    400: { description: "no readable `since` (`INVALID_SINCE`)", schema: AdminErrorBody },
    404: { description: "no such tenant or endpoint (`UNKNOWN_ENDPOINT`)", schema: AdminErrorBody },
    409: { description: "the endpoint is disabled (`ENDPOINT_DISABLED`)", schema: AdminErrorBody },
  },
});

export const DELIVERY_OPERATIONS = [listDeliveries, getDelivery, retryDelivery, recoverEndpoint];

/** What the delivery admin routes need beyond the admin context. */
export interface DeliveriesDeps {
  /** Every partition's delivery queue: a job may be in any of them. */
  queues: ReadonlyArray<Queue<DeliveryJobState>>;
}

/** Is the endpoint of this job disabled (in the config, or at run time)? Retrying it would only fail again. */
async function disabledReason(ctx: AdminContext, tenant: string, endpointId: string): Promise<string | undefined> {
  const endpoint = findEndpoint(ctx.config, tenant, endpointId);
  if (endpoint && !endpoint.enabled) return "it is disabled in the config";
  const runtime = await isEndpointDisabled(ctx.redis, ctx.keys, tenant, endpointId);
  return runtime ? "it is disabled (POST …/enable to resume it)" : undefined;
}

/** One delivery of a listing: a job, or (completed only) a first attempt's log record. */
type Item = { time: number; job: Job<DeliveryJobState> } | { time: number; record: DeliveredRecord };
type Page = { items: Item[]; total: number };

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

/**
 * A delivery's own job. A batch of a slow endpoint's first attempts (`DELIVERY_BATCH_JOB_NAME`) is
 * not listed: its deliveries show once sent (the delivered log) or failed (jobs of their own).
 */
const hasData = (job: Job<DeliveryJobState> | undefined): job is Job<DeliveryJobState> =>
  Boolean(job?.data) && job?.name !== DELIVERY_BATCH_JOB_NAME;
const jobItems = (jobs: Array<Job<DeliveryJobState> | undefined>, state: ListState): Item[] =>
  jobs.filter(hasData).map((job) => ({ time: stateTime(job, state), job }));
const recordItems = (records: DeliveredRecord[]): Item[] =>
  records.map((record) => ({ time: record.finishedAt, record }));

/** Newest first; a stable sort keeps each source's own order on a tie. */
const newestFirst = (items: Item[]) => items.sort((a, b) => b.time - a.time);

/** Where deliveries are kept: every partition's queue, and (completed ones) every partition's delivered log. */
interface Sources {
  queues: DeliveriesDeps["queues"];
  ctx: AdminContext;
}

async function wholePage({ queues, ctx }: Sources, state: ListState, offset: number, limit: number): Promise<Page> {
  const partitions = allPartitions(ctx.keys);
  const logged = state === "completed";
  const counts = await Promise.all([
    ...queues.map((queue) => queue.getJobCountByTypes(state)),
    ...(logged ? partitions.map((p) => countDelivered(ctx.redis, ctx.keys, p)) : []),
  ]);
  const total = counts.reduce((a, b) => a + b, 0);
  // The range would end at offset - 1, and Redis reads an end of -1 as "to the last": limit=0 would list every job.
  if (limit === 0 || offset >= total) return { items: [], total };
  // The page's deliveries are among the first offset + limit of some sources: read those, merge, cut.
  const heads = await Promise.all(queues.map((queue) => queue.getJobs([state], 0, offset + limit - 1, false)));
  const records = logged
    ? await Promise.all(partitions.map((p) => readDelivered(ctx.redis, ctx.keys, p, 0, offset + limit)))
    : [];
  const items = newestFirst([...heads.flatMap((jobs) => jobItems(jobs, state)), ...recordItems(records.flat())]);
  return { items: items.slice(offset, offset + limit), total };
}

/**
 * A page of the deliveries that match a filter, and how many match. BullMQ
 * keeps no index by tenant or endpoint (nor does the delivered log), so every
 * source is read whole, in pages: paging first and filtering after would give
 * short or empty pages, and a total that counts other endpoints' deliveries.
 */
async function filteredPage(
  { queues, ctx }: Sources,
  state: ListState,
  offset: number,
  limit: number,
  match: (tenant: string, endpointId: string) => boolean,
): Promise<Page> {
  const matching: Item[] = [];
  for (const queue of queues) {
    for (let start = 0; ; start += PAGE_MAX) {
      const page = await queue.getJobs([state], start, start + PAGE_MAX - 1, false);
      if (page.length === 0) break;
      for (const item of jobItems(page, state))
        if ("job" in item && match(item.job.data.tenant, item.job.data.endpointId)) matching.push(item);
    }
  }
  if (state === "completed") {
    for (const p of allPartitions(ctx.keys)) {
      const records = await readDelivered(ctx.redis, ctx.keys, p, 0, Number.MAX_SAFE_INTEGER);
      matching.push(...recordItems(records.filter((record) => match(record.tenant, record.endpointId))));
    }
  }
  return { items: newestFirst(matching).slice(offset, offset + limit), total: matching.length };
}

/** The job with this id in whichever partition's queue holds it. */
async function findJob(queues: DeliveriesDeps["queues"], id: string): Promise<Job<DeliveryJobState> | undefined> {
  const found = await Promise.all(queues.map((queue) => queue.getJob(id)));
  return found.find(hasData);
}

async function retryJob(job: Job<DeliveryJobState>) {
  // A replay is a fresh run of the whole schedule, not one last attempt: nor does it count, or
  // repeat the verdict of, a first attempt that was sent before the delivery had a job.
  const { deadLetter, priorAttempts, ...data } = job.data;
  if (deadLetter !== undefined || priorAttempts !== undefined) await job.updateData(data);
  await job.retry("failed", { resetAttemptsMade: true, resetAttemptsStarted: true });
}

/** How many attempts a delivery gets, as its job would have them (`deliveryJobOptions`). */
const maxAttemptsOf = (ctx: AdminContext) => deliveryJobOptions(ctx.config.delivery).attempts ?? 1;

/** The first attempt's log record with this id, in whichever partition's log holds it. */
async function findRecord(ctx: AdminContext, id: string): Promise<DeliveredRecord | undefined> {
  const found = await Promise.all(allPartitions(ctx.keys).map((p) => findDelivered(ctx.redis, ctx.keys, p, id)));
  return found.find((record) => record !== null) ?? undefined;
}

/**
 * Dead letters and replay, as Svix and Convoy have them:
 * - `GET /v1/deliveries?state=failed&tenant=&endpoint=&limit=&offset=` (`total` counts what the filters match)
 * - `GET /v1/deliveries/:id`
 * - `POST /v1/deliveries/:id/retry`
 * - `POST /v1/tenants/:tenant/endpoints/:endpoint/recover` `{ since }`: replay every dead letter of an endpoint since a time
 */
export function mountDeliveryRoutes(app: Express, ctx: AdminContext, { queues }: DeliveriesDeps) {
  const { requireAdmin, requireStore } = ctx;

  mountOperation(app, listDeliveries, [requireAdmin, requireStore], async ({ query }, res) => {
    const { state, tenant, endpoint, limit, offset } = query;
    const sources = { queues, ctx };
    const { items, total } =
      tenant === undefined && endpoint === undefined
        ? await wholePage(sources, state, offset, limit)
        : await filteredPage(
            sources,
            state,
            offset,
            limit,
            (t, e) => (!tenant || t === tenant) && (!endpoint || e === endpoint),
          );
    const maxAttempts = maxAttemptsOf(ctx);
    const deliveries: DeliveryView[] = items.map((item) =>
      "job" in item ? deliveryView(item.job, state) : deliveredView(item.record, maxAttempts),
    );
    res.json({ state, total, offset, limit, deliveries });
  });

  mountOperation(app, getDelivery, [requireAdmin, requireStore], async ({ params }, res) => {
    const job = await findJob(queues, params.id);
    if (job) {
      res.json({ ...deliveryView(job, await job.getState()), event: job.data.event });
      return;
    }
    const record = await findRecord(ctx, params.id);
    if (!record) {
      adminError(res, 404, "DELIVERY_NOT_FOUND", `no delivery "${params.id}"`);
      return;
    }
    const maxAttempts = maxAttemptsOf(ctx);
    res.json({ ...deliveredView(record, maxAttempts), event: deliveredEvent(record) });
  });

  mountOperation(app, retryDelivery, [requireAdmin, requireStore], async ({ params }, res) => {
    const job = await findJob(queues, params.id);
    if (!job) {
      if (await findRecord(ctx, params.id)) {
        adminError(res, 409, "NOT_A_DEAD_LETTER", `delivery "${params.id}" is completed, not failed: nothing to retry`);
        return;
      }
      adminError(res, 404, "DELIVERY_NOT_FOUND", `no delivery "${params.id}"`);
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

  mountOperation(app, recoverEndpoint, [requireAdmin, requireStore], async ({ params, body }, res) => {
    const { tenant, endpoint: endpointId } = params;
    if (!findEndpoint(ctx.config, tenant, endpointId)) {
      adminError(res, 404, "UNKNOWN_ENDPOINT", `tenant "${tenant}" has no endpoint "${endpointId}"`);
      return;
    }
    const since = Date.parse(body.since);
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
