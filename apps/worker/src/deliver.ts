import { findEndpoint } from "@imrelay/config";
import { createRateLimiter, type DeliveryJobState, type TakeRateTurn } from "@imrelay/store";
import type { Span, Tracer } from "@opentelemetry/api";
import { DelayedError, type Job, UnrecoverableError } from "bullmq";
import { type Attempt, type AttemptDeps, createAttempt, type DeliveryResult } from "./attempt.js";
import { endDeliverySpan, startDeliverySpan } from "./tracing.js";

export type { DeliveryResult };

/**
 * The attempt a job is at, from 1, counting the first attempt a job born of
 * a failed first attempt did not make itself (`priorAttempts`).
 */
export function attemptNumber(job: Pick<Job<DeliveryJobState>, "data" | "attemptsMade">): number {
  return (job.data.priorAttempts ?? 0) + job.attemptsMade + 1;
}

export interface DeliveryProcessorDeps extends AttemptDeps {
  /** Traces each attempt (README "Tracing"). @default none: no spans, no cost */
  tracer?: Tracer | undefined;
  /** Turns at endpoints' `rateLimit`. @default createRateLimiter({ redis, keys }) */
  takeRateTurn?: TakeRateTurn;
  /** The attempt, shared with the worker's other senders. @default createAttempt(deps) */
  attempt?: Attempt;
}

/**
 * A turn reached later than this (the workers were busy) is taken again rather than used:
 * a backlog of late turns never goes out as a burst above the rate.
 */
export const LATE_TURN_MS = 200;
/** BullMQ's delayed set works in whole ms: a turn may come back this much early. */
const EARLY_TURN_MS = 2;

/**
 * The BullMQ processor of delivery jobs: one signed POST per attempt. Returns
 * on 2xx; throws `DeliveryError` to be retried on the schedule, or
 * `UnrecoverableDeliveryError` (410, refused destination, disabled or unknown
 * endpoint) to become a dead letter at once.
 *
 * @example
 * new Worker(keys.deliveryQueue, createDeliveryProcessor({ config, redis, keys, logger, metrics, dispatcher }), opts);
 */
export function createDeliveryProcessor(deps: DeliveryProcessorDeps) {
  const { config, redis, keys, metrics, tracer } = deps;
  const attempt = deps.attempt ?? createAttempt(deps);
  const takeRateTurn = deps.takeRateTurn ?? createRateLimiter({ redis, keys });

  /**
   * For an endpoint with `rateLimit`: takes this delivery's turn, and when it is not now, moves the
   * job to the delayed set until then (no attempt counted, no worker slot held) and says so. A job
   * back from that wait sends on the turn it holds without asking again.
   */
  async function waitForTurn(job: Job<DeliveryJobState>, token: string | undefined): Promise<boolean> {
    const { tenant, endpointId, rateTurn } = job.data;
    const perSecond = findEndpoint(config, tenant, endpointId)?.rateLimit?.perSecond;
    if (perSecond === undefined) return false;
    // Date.now, not the injected clock: BullMQ's delayed set runs on it.
    const now = Date.now();
    if (
      rateTurn &&
      rateTurn.attempt === job.attemptsMade &&
      now >= rateTurn.at - EARLY_TURN_MS &&
      now <= rateTurn.at + LATE_TURN_MS
    ) {
      return false;
    }
    const waitMs = await takeRateTurn(tenant, endpointId, perSecond);
    if (waitMs <= 0) return false;
    // BullMQ always hands the processor the lock token; without one the job cannot be moved, so it waits here.
    if (token === undefined) {
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      return false;
    }
    const at = Date.now() + waitMs;
    await job.updateData({ ...job.data, rateTurn: { at, attempt: job.attemptsMade } });
    await job.moveToDelayed(at, token);
    metrics.deliveriesThrottled.inc({ tenant, endpoint: endpointId });
    return true;
  }

  async function attemptDelivery(job: Job<DeliveryJobState>, span: Span | undefined): Promise<DeliveryResult> {
    const { deadLetter } = job.data;
    // Its first attempt, sent straight from the ingest stream, already ended it: fail it as it is.
    if (deadLetter) throw new UnrecoverableError(deadLetter.message);
    const number = attemptNumber(job);
    const outcome = await attempt(job.data, number, span);
    if (outcome.ok) return outcome.result;
    if (outcome.lastResponse) await job.updateData({ ...job.data, lastResponse: outcome.lastResponse });
    // A job born of a failed first attempt has made fewer attempts than BullMQ counts to: it ends
    // when the schedule does, counted from the first attempt.
    if (!(outcome.error instanceof UnrecoverableError) && number >= (job.opts.attempts ?? 1)) job.discard();
    throw outcome.error;
  }

  // BullMQ calls a processor with (job, token, signal): the span is never taken from its arguments.
  // DelayedError tells BullMQ the job was moved to the delayed set itself: not an attempt, not a failure.
  if (!tracer) {
    return async (job: Job<DeliveryJobState>, token?: string): Promise<DeliveryResult> => {
      if (await waitForTurn(job, token)) throw new DelayedError();
      return attemptDelivery(job, undefined);
    };
  }
  return async function deliver(job: Job<DeliveryJobState>, token?: string): Promise<DeliveryResult> {
    if (await waitForTurn(job, token)) throw new DelayedError();
    const span = startDeliverySpan(tracer, job.data, attemptNumber(job));
    try {
      const result = await attemptDelivery(job, span);
      endDeliverySpan(span);
      return result;
    } catch (err) {
      endDeliverySpan(span, err);
      throw err;
    }
  };
}
