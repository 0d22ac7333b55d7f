import { BACKOFF_TYPE } from "@imrelay/store";
import type { BackoffStrategy } from "bullmq";

export { BACKOFF_TYPE };

/** Spreads a delay so that endpoints that failed together do not all retry in the same instant. */
export type Jitter = (delayMs: number) => number;

/**
 * ±20 % around the delay.
 *
 * @example
 * defaultJitter(5000) // between 4000 and 6000
 */
export const defaultJitter: Jitter = (delayMs) => delayMs * (0.8 + 0.4 * Math.random());

/**
 * The Worker's `settings.backoffStrategy`: the config's `retrySchedule` entry
 * for the attempt that just failed, jittered. A `Retry-After` (a
 * `DeliveryError` with `retryAfterMs`) may lengthen that wait, never shorten
 * it: a receiver answering `Retry-After: 0` (or a date in the past) on every
 * attempt would otherwise spend all attempts in a few milliseconds. Nor may it
 * hold the delivery back longer than the schedule's last step.
 *
 * @example
 * new Worker(name, processor, { settings: { backoffStrategy: deliveryBackoff([5000, 300000]) } });
 */
export function deliveryBackoff(schedule: readonly number[], jitter: Jitter = defaultJitter): BackoffStrategy {
  const lastStep = schedule[schedule.length - 1] ?? 0;
  return (attemptsMade, _type, err, job) => {
    // A job born of a failed first attempt (first-attempts.ts) counts that attempt too.
    const prior = Number((job?.data as { priorAttempts?: unknown } | undefined)?.priorAttempts) || 0;
    // A replayed dead letter can run past the schedule: it keeps the last step.
    const base = schedule[Math.min(Math.max(prior + attemptsMade - 1, 0), schedule.length - 1)] ?? 0;
    const step = Math.max(0, Math.round(jitter(base)));
    const retryAfterMs = (err as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
    if (typeof retryAfterMs !== "number" || !Number.isFinite(retryAfterMs)) return step;
    return Math.max(step, Math.min(Math.round(retryAfterMs), lastStep));
  };
}
