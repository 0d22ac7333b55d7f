import type { DeliveryJobState } from "@imrelay/store";
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
    attempts: job.attemptsMade,
    maxAttempts: job.opts.attempts ?? 1,
    failedReason: job.failedReason || null,
    lastResponse: lastResponse(job, state),
    createdAt: iso(job.timestamp) ?? new Date(0).toISOString(),
    finishedAt: iso(job.finishedOn),
    nextAttemptAt: state === "delayed" ? iso(job.timestamp + (job.delay ?? 0)) : null,
  };
}
