import { ImrelayError } from "@imrelay/core";
import { UnrecoverableError } from "bullmq";

/** Failures worth another attempt on the retry schedule. */
export type RetryableDeliveryCode = "HTTP_ERROR" | "TIMEOUT" | "CONNECTION_FAILED";

/** Failures that end the job at once: it goes to the failed set (the dead letters). */
export type UnrecoverableDeliveryCode =
  | "DESTINATION_REFUSED"
  | "ENDPOINT_GONE"
  | "ENDPOINT_DISABLED"
  | "ENDPOINT_UNKNOWN";

export type DeliveryErrorCode = RetryableDeliveryCode | UnrecoverableDeliveryCode;

/**
 * A failed attempt that BullMQ retries. `retryAfterMs` (from a 429/503
 * `Retry-After`) may lengthen the schedule's delay for the next attempt,
 * within the schedule's bounds; the backoff strategy reads it off this error.
 */
export class DeliveryError extends ImrelayError<RetryableDeliveryCode> {
  readonly status: number | null;
  readonly retryAfterMs: number | undefined;
  constructor(
    code: RetryableDeliveryCode,
    message: string,
    options: { status?: number | null; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(code, message, { cause: options.cause });
    this.status = options.status ?? null;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * A failure no retry can fix. It extends BullMQ's `UnrecoverableError`, so the
 * job skips its remaining attempts and stays in the failed set, replayable.
 */
export class UnrecoverableDeliveryError extends UnrecoverableError {
  readonly code: UnrecoverableDeliveryCode;
  readonly status: number | null;
  constructor(code: UnrecoverableDeliveryCode, message: string, status: number | null = null) {
    super(message);
    this.code = code;
    this.status = status;
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** The `code` of an error or of any error in its `cause` chain. */
export function findErrorCode(err: unknown, code: string): boolean {
  let current: unknown = err;
  for (let depth = 0; current && depth < 5; depth++) {
    if ((current as { code?: unknown }).code === code) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}
