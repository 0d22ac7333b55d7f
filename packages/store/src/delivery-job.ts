import { deflateRawSync, inflateRawSync } from "node:zlib";
/** The BullMQ job name of a delivery. */
export const DELIVERY_JOB_NAME = "deliver";

/**
 * The BullMQ job name of a batch of one endpoint's first attempts that were
 * not made straight from the stream because the endpoint was slow (its
 * overflow): one job for many deliveries, so a slow endpoint's backlog costs
 * the queue one add per batch, not per delivery. A delivery of a batch that
 * fails becomes a job of its own (`DELIVERY_JOB_NAME`).
 */
export const DELIVERY_BATCH_JOB_NAME = "deliver-batch";

/** One delivery of a batch: its id (`deliveryJobId`), its payload's JSON text, its traceparent. */
export interface BatchedDelivery {
  id: string;
  /** `{type, timestamp, data}`, `data` the event as delivered: text, so queueing costs no serializing of events. */
  body: string;
  traceparent?: string;
}

/** What a batch job carries (see `DELIVERY_BATCH_JOB_NAME`). */
export interface DeliveryBatchData {
  tenant: string;
  endpointId: string;
  /** The partition whose queue it is in: where its failed deliveries' jobs go. */
  partition: number;
  /**
   * The ingest entries its deliveries are made from (one each, in order): the events stay in the
   * stream, acked and kept until their delivery here is settled (lua/settle.lua), so a slow
   * endpoint's backlog costs the queue an id per delivery. `raw`: the endpoint gets the vendor's
   * raw copy (`includeRaw`, as it was when the batch was made).
   */
  entries?: string[];
  raw?: boolean;
  /** The deliveries (`packBatch`): one compressed string, not a hundred payloads escaped as JSON strings. */
  packed?: string;
  /** The deliveries as they were written before they were packed (still read). */
  deliveries?: BatchedDelivery[];
}

/**
 * A batch's deliveries as one string for its job: their JSON, deflated, in base64. A slow
 * endpoint's batches carry every payload it has yet to get; packed they are about a tenth of
 * the size, which counts three times over: BullMQ serializing the job (a payload would be a
 * string escaped inside it), Redis storing it, and a worker fetching it.
 *
 * @example
 * const data = { tenant, endpointId, partition, packed: packBatch(deliveries) };
 * batchDeliveries(data); // deliveries again
 */
export function packBatch(deliveries: readonly BatchedDelivery[]): string {
  return deflateRawSync(JSON.stringify(deliveries), { level: 1 }).toString("base64");
}

/** A batch job's deliveries, packed (`packBatch`) or not. */
export function batchDeliveries(data: Pick<DeliveryBatchData, "packed" | "deliveries">): BatchedDelivery[] {
  if (data.packed !== undefined) {
    return JSON.parse(inflateRawSync(Buffer.from(data.packed, "base64")).toString("utf8")) as BatchedDelivery[];
  }
  return data.deliveries ?? [];
}

/** Deliveries per batch job that carries their payloads (`packed`) at most. */
export const DELIVERY_BATCH_MAX = 100;

/**
 * Deliveries per batch job that refers to ingest entries (`entries`) at most: an id apiece, each
 * entry read only as its delivery reaches a slot, so a batch this long is a few tens of KiB.
 */
export const DELIVERY_BATCH_ENTRIES_MAX = 1_000;

/** The backoff type of delivery jobs; the worker registers the strategy under this name. */
export const BACKOFF_TYPE = "schedule";

/** The BullMQ job id of one (event, endpoint) delivery: deterministic, so a re-dispatch collapses. */
export function deliveryJobId(eventId: string, endpointId: string): string {
  return `${eventId}.${endpointId}`;
}

/** What a delivery job carries: the whole event, so delivery needs no other read. */
export interface DeliveryJobData {
  tenant: string;
  endpointId: string;
  /** The event as delivered (ImrelayEvent JSON, with `raw` when the endpoint asked for it). */
  event: Record<string, unknown> & { id: string; type: string; occurredAt: string };
  /**
   * The W3C `traceparent` of the gateway's enqueue span (only while tracing is
   * on): every delivery attempt's span is its child, in the callback's trace.
   */
  traceparent?: string;
}

/** What the admin API shows of a delivery's last failed attempt (kept in the job's data). */
export interface LastResponse {
  /** The endpoint's HTTP status, or null when there was no answer. */
  status: number | null;
  /** The first 512 characters of the answer's body. */
  bodyExcerpt: string | null;
  /** `HTTP_ERROR`, `TIMEOUT`, `DESTINATION_REFUSED`, or a system code such as `ECONNREFUSED`. */
  error: string | null;
  /** The attempt's number, from 1. */
  attempt: number;
  /** ISO time of the attempt. */
  at: string;
}

/** The turn a delivery took at its endpoint's `rateLimit` and waits for (lua/rate-limit.lua). */
export interface RateTurn {
  /** ms since the epoch (worker clock) it may be sent at. */
  at: number;
  /** The job's `attemptsMade` when it took the turn: a turn serves that attempt only. */
  attempt: number;
}

/**
 * A delivery job's data once an attempt has failed, or it waits for its turn at a rate limit.
 * A delivery whose first attempt went out straight from the ingest stream and failed becomes a
 * job with `priorAttempts: 1` (the attempts its job did not make), or, when that failure ends it
 * (410, a refused destination, a schedule with no retries), with `deadLetter`: the worker then
 * fails it at once without sending, so it is listed and replayed as any dead letter.
 */
export type DeliveryJobState = DeliveryJobData & {
  lastResponse?: LastResponse;
  rateTurn?: RateTurn;
  priorAttempts?: number;
  deadLetter?: DeadLetterVerdict;
};

/** Why a delivery became a dead letter before it had a job (see `DeliveryJobState`). */
export interface DeadLetterVerdict {
  /** The worker's error code: `ENDPOINT_GONE`, `DESTINATION_REFUSED`, `HTTP_ERROR`, … */
  code: string;
  /** The failure's text, as a job's `failedReason` would say it. */
  message: string;
}
