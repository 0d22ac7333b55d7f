import { filterMatcher, type TenantConfig } from "@imrelay/config";
import { DELIVERY_JOB_NAME, type DeliveryJobState, deliveryJobId, type IngestEvent } from "@imrelay/store";
import type { JobsOptions } from "bullmq";

export interface DeliveryJob {
  name: typeof DELIVERY_JOB_NAME;
  data: DeliveryJobState;
  opts: JobsOptions & { jobId: string };
}

/** The jobs of one event, and the endpoints whose `filter` turned it away (for the metric). */
export interface FanOut {
  jobs: DeliveryJob[];
  filtered: string[];
}

/**
 * One job per endpoint that wants the event: enabled in the config, whose
 * `events` list has the type, whose `filter` matches the event as delivered,
 * and, for `changesOnly`, only when the event flipped presence. `raw` goes
 * only to `includeRaw` endpoints.
 *
 * @example
 * const { jobs, filtered } = fanOut({ event, raw, tenant: config.tenants.acme, jobOptions });
 * await queue.addBulk(jobs);
 */
export function fanOut({
  event,
  raw,
  traceparent,
  tenant,
  jobOptions,
}: {
  event: IngestEvent;
  raw: unknown;
  /** The gateway's enqueue span (stream field `t`), carried so delivery spans join the callback's trace. */
  traceparent?: string | undefined;
  tenant: TenantConfig;
  jobOptions: JobsOptions;
}): FanOut {
  const jobs: DeliveryJob[] = [];
  const filtered: string[] = [];
  // The stream's `e` carries no raw; drop one anyway, so it can only reach includeRaw endpoints.
  const { raw: _carried, ...base } = event as IngestEvent & { raw?: unknown };
  for (const endpoint of tenant.endpoints) {
    // An endpoint disabled at run time (410, admin) still gets its job: the worker turns it into a
    // dead letter without calling the endpoint, so `enable` + `recover` can replay it. Only the
    // config's `enabled: false` means "send nothing".
    if (!endpoint.enabled) continue;
    if (endpoint.events && !(endpoint.events as readonly string[]).includes(event.type)) continue;
    if (endpoint.changesOnly && event.changed !== true) continue;
    const delivered = endpoint.includeRaw && raw !== undefined ? { ...base, raw } : base;
    // Compiled once per loaded config (the matcher is kept with the config's filter object).
    if (endpoint.filter && !filterMatcher(endpoint.filter)(delivered)) {
      filtered.push(endpoint.id);
      continue;
    }
    jobs.push({
      name: DELIVERY_JOB_NAME,
      // An undefined traceparent (tracing off) is left out of the job's JSON.
      data: { tenant: event.tenant, endpointId: endpoint.id, event: delivered, traceparent },
      opts: { ...jobOptions, jobId: deliveryJobId(event.id, endpoint.id) },
    });
  }
  return { jobs, filtered };
}
