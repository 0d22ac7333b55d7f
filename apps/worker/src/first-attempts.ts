import { BACKOFF_TYPE, type DeliveredRecord } from "@imrelay/store";
import type { Tracer } from "@opentelemetry/api";
import { UnrecoverableError } from "bullmq";
import type { Attempt, AttemptOutcome } from "./attempt.js";
import { deliveryBackoff, type Jitter } from "./backoff.js";
import type { DeliveryJob } from "./fan-out.js";
import { endDeliverySpan, startDeliverySpan } from "./tracing.js";

/**
 * What became of a first attempt: delivered (logged, no job), or a job for
 * the queue — the retry of a failed attempt, a dead letter, or the delivery
 * itself when it was not sent here (its endpoint had its share in flight, or
 * it was handed back at a shutdown).
 */
export type FirstAttemptResult = { kind: "delivered"; record: DeliveredRecord } | { kind: "queue"; job: DeliveryJob };

export interface FirstAttemptsDeps {
  attempt: Attempt;
  /** First attempts in flight at most (the worker's `delivery.concurrency`). */
  concurrency: number;
  /** Of which one endpoint may hold at most this many; its next ones go to the queue. */
  endpointConcurrency: number;
  /** `delivery.retrySchedule`: when a failed first attempt's job is due. */
  retrySchedule: readonly number[];
  /** @default ±20 % */
  jitter?: Jitter;
  tracer?: Tracer | undefined;
  /** ms since the epoch. @default Date.now */
  clock?: () => number;
}

export interface FirstAttempts {
  /**
   * Waits until fewer deliveries than the slots are in hand, then says how
   * many entries to read (at most `max`): the backlog stays in Redis. Nothing
   * is reserved, so a partition's loop blocked on an empty stream holds no
   * room the others could use; the loops together may overshoot by a batch each.
   */
  room(max: number): Promise<number>;
  /** Sends one delivery's first attempt (when a slot frees); never rejects. */
  send(job: DeliveryJob, readAt: number): Promise<FirstAttemptResult>;
  /** The delivery ids being sent or waiting for a slot. */
  inFlight(): string[];
  /**
   * Ends every send in hand at once: each resolves as its delivery, to be
   * queued with no attempt counted. A request already out may still reach
   * the endpoint, so the delivery may arrive twice (at least once).
   */
  handBackAll(): string[];
  /** Resolves when nothing is in hand. */
  idle(): Promise<void>;
  /** Ends `room` waits (they resolve with 0). */
  stop(): void;
}

interface Send {
  job: DeliveryJob;
  readAt: number;
  endpoint: string;
  resolve: (result: FirstAttemptResult) => void;
  done: boolean;
}

/**
 * The first attempt of every delivery, sent straight from the ingest stream
 * rather than through a BullMQ job: a job costs several Redis scripts (add,
 * take, finish) that most deliveries — those answered 2xx at once — never
 * need. A failed first attempt becomes a job (a retry on the schedule, or a
 * dead letter), so the queue still holds every delivery that needs a second
 * look.
 *
 * Head-of-line isolation: an endpoint never holds more than
 * `endpointConcurrency` of the slots; when it has its share in flight, its
 * next deliveries go to the queue at once instead of waiting here, so a slow
 * endpoint cannot stall the others' deliveries nor keep entries in hand.
 *
 * @example
 * const first = createFirstAttempts({ attempt, concurrency: 50, endpointConcurrency: 25, retrySchedule: [5000, 300000] });
 * const result = await first.send(job, Date.now());
 */
export function createFirstAttempts(deps: FirstAttemptsDeps): FirstAttempts {
  const { attempt, concurrency, endpointConcurrency, tracer } = deps;
  const backoff = deliveryBackoff(deps.retrySchedule, deps.jitter);
  const clock = deps.clock ?? Date.now;
  const waiting: Send[] = [];
  const sending = new Set<Send>();
  const perEndpoint = new Map<string, number>();
  let stopped = false;
  const roomWaiters: Array<() => void> = [];
  const idleWaiters: Array<() => void> = [];

  const inHand = () => sending.size + waiting.length;

  function wake(): void {
    while (roomWaiters.length > 0 && (stopped || inHand() < concurrency)) roomWaiters.shift()!();
    if (sending.size === 0 && waiting.length === 0) for (const resolve of idleWaiters.splice(0)) resolve();
  }

  function finish(send: Send, result: FirstAttemptResult): void {
    if (send.done) return;
    send.done = true;
    send.resolve(result);
  }

  function resultOf(send: Send, outcome: AttemptOutcome): FirstAttemptResult {
    const { job } = send;
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
          readAt: send.readAt,
          finishedAt: clock(),
          ...(job.data.traceparent !== undefined ? { traceparent: job.data.traceparent } : {}),
        },
      };
    }
    const { error, lastResponse } = outcome;
    const schedule = deps.retrySchedule;
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

  function start(send: Send): void {
    sending.add(send);
    perEndpoint.set(send.endpoint, (perEndpoint.get(send.endpoint) ?? 0) + 1);
    const span = tracer ? startDeliverySpan(tracer, send.job.data, 1) : undefined;
    attempt(send.job.data, 1, span, { enabled: true })
      .then(
        (outcome) => {
          if (span) endDeliverySpan(span, outcome.ok ? undefined : outcome.error);
          finish(send, resultOf(send, outcome));
        },
        (err: unknown) => {
          // Not the endpoint's doing (Redis failed while disabling a 410'd endpoint): the queue tries it afresh.
          if (span) endDeliverySpan(span, err);
          finish(send, { kind: "queue", job: send.job });
        },
      )
      .finally(() => {
        sending.delete(send);
        const left = (perEndpoint.get(send.endpoint) ?? 1) - 1;
        if (left === 0) perEndpoint.delete(send.endpoint);
        else perEndpoint.set(send.endpoint, left);
        pump();
      });
  }

  /** Fills free slots from the waiting line; an endpoint with its share in flight goes to the queue instead. */
  function pump(): void {
    while (sending.size < concurrency && waiting.length > 0) {
      const next = waiting.shift()!;
      if (next.done) continue;
      if ((perEndpoint.get(next.endpoint) ?? 0) >= endpointConcurrency) {
        finish(next, { kind: "queue", job: next.job });
        continue;
      }
      start(next);
    }
    wake();
  }

  return {
    async room(max) {
      while (!stopped && inHand() >= concurrency) await new Promise<void>((resolve) => roomWaiters.push(resolve));
      if (stopped) return 0;
      // Up to twice the slots in hand: one batch sending, the next read and waiting for slots.
      return Math.max(1, Math.min(max, 2 * concurrency - inHand()));
    },
    send(job, readAt) {
      return new Promise<FirstAttemptResult>((resolve) => {
        const endpoint = `${job.data.tenant}\n${job.data.endpointId}`;
        waiting.push({ job, readAt, endpoint, resolve, done: false });
        pump();
      });
    },
    inFlight: () => [...sending, ...waiting].filter((send) => !send.done).map((send) => send.job.opts.jobId),
    handBackAll() {
      const ids: string[] = [];
      for (const send of [...sending, ...waiting]) {
        if (send.done) continue;
        ids.push(send.job.opts.jobId);
        finish(send, { kind: "queue", job: send.job });
      }
      waiting.length = 0;
      wake();
      return ids;
    },
    idle() {
      if (sending.size === 0 && waiting.length === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
    stop() {
      stopped = true;
      wake();
    },
  };
}
