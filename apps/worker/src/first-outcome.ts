import { BACKOFF_TYPE, type DeliveredRecord } from "@imrelay/store";
import { type BackoffStrategy, UnrecoverableError } from "bullmq";
import type { AttemptOutcome } from "./attempt.js";
import type { DeliveryJob } from "./fan-out.js";

/**
 * What became of a first attempt: delivered (logged, no job); a job for the
 * queue — the retry of a failed attempt, or a dead letter; or, `spill`, the
 * delivery itself, not attempted here (its endpoint was slow, or it was
 * handed back at a shutdown), which the queue takes in batches per endpoint.
 */
export type FirstAttemptResult =
  | { kind: "delivered"; record: DeliveredRecord }
  | { kind: "queue"; job: DeliveryJob }
  | { kind: "spill"; job: DeliveryJob };

/**
 * The result of a first attempt made outside a job (straight from the stream, or from a batch):
 * the delivered log's record, or the job that carries the failure on.
 *
 * @example
 * firstAttemptResult(job, outcome, { readAt, finishedAt: Date.now(), schedule, backoff });
 */
export function firstAttemptResult(
  job: DeliveryJob,
  outcome: AttemptOutcome,
  {
    readAt,
    finishedAt,
    schedule,
    backoff,
  }: { readAt: number; finishedAt: number; schedule: readonly number[]; backoff: BackoffStrategy },
): FirstAttemptResult {
  if (outcome.ok) {
    return {
      kind: "delivered",
      record: {
        id: job.opts.jobId,
        tenant: job.data.tenant,
        endpointId: job.data.endpointId,
        body: outcome.body,
        status: outcome.result.status,
        durationMs: outcome.result.durationMs,
        readAt,
        finishedAt,
        ...(job.data.traceparent !== undefined ? { traceparent: job.data.traceparent } : {}),
        // Its body can be built again from its ingest entry: the log copies that inside Redis.
        ...(job.fromText ? { fromEntry: { raw: "raw" in job.data.event } } : {}),
      },
    };
  }
  const { error, lastResponse } = outcome;
  const data = lastResponse ? { ...job.data, lastResponse } : { ...job.data };
  if (error instanceof UnrecoverableError || schedule.length === 0) {
    // Ends here: a job that fails at once, so it is listed and replayed as any dead letter.
    return {
      kind: "queue",
      job: { ...job, data: { ...data, deadLetter: { code: error.code, message: error.message } } },
    };
  }
  const delay = backoff(1, BACKOFF_TYPE, error) as number;
  return { kind: "queue", job: { ...job, data: { ...data, priorAttempts: 1 }, opts: { ...job.opts, delay } } };
}
