import type { DeliveredRecord, DeliveryJobState } from "@imrelay/store";
import type { Job, JobState } from "bullmq";

/** What the admin API shows of one delivery (a BullMQ job), without the endpoint's secret or URL. */
export interface DeliveryView {
  id: string;
  state: JobState | "unknown";
  tenant: string;
  endpointId: string;
  eventId: string;
  eventType: string;
  userId: string | null;
  attempts: number;
  maxAttempts: number;
  /** Why the last attempt failed, as the worker said it. */
  failedReason: string | null;
  /** The endpoint's last answer: status, first 512 characters of its body, error code, attempt, time. */
  lastResponse: DeliveryJobState["lastResponse"] | null;
  createdAt: string;
  finishedAt: string | null;
  /** When a delayed job will be tried again. */
  nextAttemptAt: string | null;
}

const iso = (ms: number | undefined | null) => (typeof ms === "number" && ms > 0 ? new Date(ms).toISOString() : null);

/** A completed delivery's last response is its success, not the failures a replay left behind. */
function lastResponse(job: Job<DeliveryJobState>, state: JobState | "unknown"): DeliveryView["lastResponse"] {
  const result = job.returnvalue as { status?: number; attempt?: number } | null | undefined;
  if (state === "completed" && result && typeof result.status === "number") {
    return {
      status: result.status,
      bodyExcerpt: null,
      error: null,
      attempt: result.attempt ?? job.attemptsMade,
      at: iso(job.finishedOn) ?? new Date(0).toISOString(),
    };
  }
  return job.data.lastResponse ?? null;
}

export function deliveryView(job: Job<DeliveryJobState>, state: JobState | "unknown"): DeliveryView {
  const { data } = job;
  const event = data.event as Record<string, unknown>;
  return {
    id: String(job.id),
    state,
    tenant: data.tenant,
    endpointId: data.endpointId,
    eventId: String(event.id),
    eventType: String(event.type),
    userId: typeof event.userId === "string" ? event.userId : null,
    // A job born of a failed first attempt (sent straight from the stream) counts that attempt too.
    attempts: (data.priorAttempts ?? 0) + job.attemptsMade,
    maxAttempts: job.opts.attempts ?? 1,
    failedReason: job.failedReason || null,
    lastResponse: lastResponse(job, state),
    createdAt: iso(job.timestamp) ?? new Date(0).toISOString(),
    finishedAt: iso(job.finishedOn),
    nextAttemptAt: state === "delayed" ? iso(job.timestamp + (job.delay ?? 0)) : null,
  };
}

/** The event a logged delivery sent: the `data` of its payload. */
export function deliveredEvent(record: DeliveredRecord): Record<string, unknown> {
  try {
    const payload = JSON.parse(record.body) as { data?: unknown };
    return payload.data && typeof payload.data === "object" ? (payload.data as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * A delivery that succeeded at its first attempt, sent straight from the
 * ingest stream (no BullMQ job: the store's delivered log keeps it), shown
 * as a completed job would be.
 */
export function deliveredView(record: DeliveredRecord, maxAttempts: number): DeliveryView {
  const event = deliveredEvent(record);
  return {
    id: record.id,
    state: "completed",
    tenant: record.tenant,
    endpointId: record.endpointId,
    eventId: String(event.id ?? record.id.slice(0, -(record.endpointId.length + 1))),
    eventType: String(event.type ?? ""),
    userId: typeof event.userId === "string" ? event.userId : null,
    attempts: 1,
    maxAttempts,
    failedReason: null,
    lastResponse: {
      status: record.status,
      bodyExcerpt: null,
      error: null,
      attempt: 1,
      at: iso(record.finishedAt) ?? new Date(0).toISOString(),
    },
    createdAt: iso(record.readAt) ?? new Date(0).toISOString(),
    finishedAt: iso(record.finishedAt),
    nextAttemptAt: null,
  };
}
