import { type EndpointConfig, filterMatcher, type TenantConfig } from "@imrelay/config";
import {
  DELIVERY_JOB_NAME,
  type DeliveryJobState,
  deliveryJobId,
  type IngestEvent,
  type ParsedEntry,
  payloadJson,
} from "@imrelay/store";
import type { JobsOptions } from "bullmq";

export interface DeliveryJob {
  name: typeof DELIVERY_JOB_NAME;
  data: DeliveryJobState;
  opts: JobsOptions & { jobId: string };
  /**
   * The payload's JSON text, built from the stream's text when fan-out could (a first attempt
   * then sends it without a stringify; the delivered log copies it from the entry, see
   * `DeliveredRecord.entry`). Not part of the job: BullMQ never stores it.
   */
  body?: string;
  /** `body` is the payload built from the entry's own text (`payloadJson`), as the delivered log can build it again. */
  fromText?: true;
}

/**
 * A delivery to an endpoint the caller said is parked (`fanOut`'s `route`): it goes to the
 * endpoint's batches by reference, and its job (and id) is made only if it must be written as one.
 */
export interface ParkedDelivery {
  endpointId: string;
  /** It carries the vendor's raw copy (an includeRaw endpoint's). */
  raw: boolean;
  job: () => DeliveryJob;
}

/**
 * Where one delivery goes (`fanOut`'s `route`): to the queue as a job, out as a first attempt
 * (`send`), or, for an endpoint found slow, straight to its batches (`park`).
 */
export type Route = "queue" | "send" | "park";

/**
 * One event's deliveries by route (without a `route`, every one is a job for the queue), and the
 * endpoints whose `filter` turned it away (for the metric).
 */
export interface FanOut {
  jobs: DeliveryJob[];
  sends: DeliveryJob[];
  parked: ParkedDelivery[];
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
  json,
  rawJson,
  route,
}: {
  event: IngestEvent;
  raw: unknown;
  /** The event's JSON text (and its raw copy's), to build each payload's text from. */
  json?: string | undefined;
  rawJson?: string | undefined;
  /** The gateway's enqueue span (stream field `t`), carried so delivery spans join the callback's trace. */
  traceparent?: string | undefined;
  tenant: TenantConfig;
  jobOptions: JobsOptions;
  /**
   * Where each endpoint's delivery goes. A parked one gets no job, no id and no payload text, only
   * its endpoint (a slow endpoint's every delivery would otherwise build them, to be dropped). @default queue
   */
  route?: ((tenant: string, endpoint: EndpointConfig) => Route) | undefined;
}): FanOut {
  const jobs: DeliveryJob[] = [];
  const sends: DeliveryJob[] = [];
  const parked: ParkedDelivery[] = [];
  const filtered: string[] = [];
  const { base, text } = withoutOwnRaw(event, json);
  for (const endpoint of tenant.endpoints) {
    // An endpoint disabled at run time (410, admin) still gets its job: the worker turns it into a
    // dead letter without calling the endpoint, so `enable` + `recover` can replay it. Only the
    // config's `enabled: false` means "send nothing".
    if (!endpoint.enabled) continue;
    if (endpoint.events && !(endpoint.events as readonly string[]).includes(event.type)) continue;
    if (endpoint.changesOnly && event.changed !== true) continue;
    const withRaw = endpoint.includeRaw && raw !== undefined;
    const delivered = withRaw ? { ...base, raw } : base;
    // Compiled once per loaded config (the matcher is kept with the config's filter object).
    if (endpoint.filter && !filterMatcher(endpoint.filter)(delivered)) {
      filtered.push(endpoint.id);
      continue;
    }
    const to = route?.(event.tenant, endpoint) ?? "queue";
    const { id } = endpoint;
    const made = { traceparent, jobOptions, text, rawJson: withRaw ? rawJson : undefined };
    if (to !== "park") (to === "send" ? sends : jobs).push(delivery(event, delivered, id, made));
    // Nothing of its job is made now: most of a parked endpoint's deliveries go by reference.
    else parked.push({ endpointId: id, raw: withRaw, job: () => delivery(event, delivered, id, made) });
  }
  return { jobs, sends, parked, filtered };
}

/** One delivery's job: the event as delivered (`delivered`, raw or not) and, with its text, the payload's. */
function delivery(
  event: IngestEvent,
  delivered: IngestEvent,
  endpointId: string,
  {
    traceparent,
    jobOptions,
    text,
    rawJson,
  }: {
    traceparent: string | undefined;
    jobOptions: JobsOptions;
    text: string | undefined;
    rawJson: string | undefined;
  },
): DeliveryJob {
  return {
    name: DELIVERY_JOB_NAME,
    // An undefined traceparent (tracing off) is left out of the job's JSON.
    data: { tenant: event.tenant, endpointId, event: delivered, traceparent },
    opts: { ...jobOptions, jobId: deliveryJobId(event.id, endpointId) },
    ...(text === undefined ? {} : { body: payloadJson(event, text, rawJson), fromText: true as const }),
  };
}

/**
 * The delivery of an ingest entry's event to one endpoint, as fan-out made it (a slow endpoint's
 * batch refers to the entry, and makes its delivery when it comes to it).
 *
 * @example
 * const job = entryDelivery(parseIngestEntry(entry), { endpointId: "crm", includeRaw: false, jobOptions });
 */
export function entryDelivery(
  parsed: Extract<ParsedEntry, { ok: true }>,
  { endpointId, includeRaw, jobOptions }: { endpointId: string; includeRaw: boolean; jobOptions: JobsOptions },
): DeliveryJob {
  const { event, raw, traceparent, json, rawJson } = parsed;
  const { base, text } = withoutOwnRaw(event, json);
  const withRaw = includeRaw && raw !== undefined;
  return delivery(event, withRaw ? { ...base, raw } : base, endpointId, {
    traceparent,
    jobOptions,
    text,
    rawJson: withRaw ? rawJson : undefined,
  });
}

/**
 * The event as every endpoint gets it, before an includeRaw endpoint's raw copy, and its text
 * when that is the stream's own. The stream's `e` carries no raw; one is dropped anyway, so it
 * can only reach includeRaw endpoints (copied only then: this runs for every event), and the
 * text is then not the event as delivered.
 */
function withoutOwnRaw(event: IngestEvent, json: string | undefined): { base: IngestEvent; text: string | undefined } {
  if (!("raw" in event)) return { base: event, text: json };
  const { raw: _dropped, ...rest } = event as IngestEvent & { raw?: unknown };
  return { base: rest, text: undefined };
}
