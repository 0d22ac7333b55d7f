import type { Tracer } from "@opentelemetry/api";
import type { Attempt } from "./attempt.js";
import { deliveryBackoff, type Jitter } from "./backoff.js";
import type { DeliveryJob } from "./fan-out.js";
import { type FirstAttemptResult, firstAttemptResult } from "./first-outcome.js";
import { endDeliverySpan, startDeliverySpan } from "./tracing.js";

export type { FirstAttemptResult };

export interface FirstAttemptsDeps {
  attempt: Attempt;
  /** First attempts in flight at most (the worker's `delivery.concurrency`). */
  concurrency: number;
  /** Of which one endpoint may hold at most this many; its next ones go to the queue. */
  endpointConcurrency: number;
  /**
   * Of which one endpoint that answers briskly may hold this many (more than `endpointConcurrency`):
   * slots the other endpoints leave idle are used. @default endpointConcurrency (no more)
   */
  briskConcurrency?: number;
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
   * Waits until fewer deliveries than the slots are read and not sent, then
   * says how many entries to read (at most `max`), and holds that room until
   * `release`: the backlog stays in Redis, and the partitions' loops, woken
   * together, do not each read a batch on the same room (they read ten times
   * what it held, and that read-ahead lived long enough to be promoted to the
   * old heap). A read that waits on an empty stream releases its room first.
   */
  room(max: number): Promise<number>;
  /** Gives back room that `room` held, once what was read with it is sent or waiting here. */
  release(count: number): void;
  /** Sends one delivery's first attempt (when a slot frees); never rejects. */
  send(job: DeliveryJob, readAt: number): Promise<FirstAttemptResult>;
  /**
   * Is the endpoint found slow, with its share of the slots in flight? Then `send` would only spill
   * its next deliveries: the caller spills them itself, without a send apiece. (Found so, its
   * requests out give their worker slots back, as wherever an endpoint is found slow.)
   */
  parked(tenant: string, endpointId: string): boolean;
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
  /**
   * Its delivery; dropped with `resolve` once it is settled (`finish`). A send lives on in the Sets
   * of sends out after that: a Set's table left behind by a resize points at it until the next full
   * collection, and every young-generation collection meanwhile would keep (and promote) what it
   * holds — the event and its payload, thousands a second.
   */
  job: DeliveryJob | undefined;
  readAt: number;
  endpoint: string;
  resolve: ((result: FirstAttemptResult) => void) | undefined;
  done: boolean;
  /** performance.now() when its request went out. */
  startedAt: number;
}

/** One endpoint's sends in flight (oldest first) and those waiting for one of its own slots. */
interface Line {
  sending: Set<Send>;
  deferred: Send[];
  /** performance.now() of its last answer (or of its first send). */
  lastDone: number;
  /** Has it answered since its line was made? */
  answered: boolean;
  /** How many of its sends hold one of the worker's slots (not `detached`). */
  attached: number;
}

/**
 * An endpoint with a request out this long is slow: with its share of the
 * slots taken, its next deliveries go to the queue rather than wait here.
 */
export const SLOW_ENDPOINT_MS = 500;
/**
 * So is an endpoint with its share of the slots taken that has answered
 * nothing for this long: a fast endpoint at its share answers every few ms,
 * and a slow one is found out before it holds the others up for long.
 */
export const QUIET_ENDPOINT_MS = 100;
/**
 * How long an endpoint whose last answer took `SLOW_ENDPOINT_MS` or more stays known as slow once
 * its line empties: its next share of sends, out together, answers together, and the line is
 * refilled at once; without this, what is read for it in the 100 ms it then takes to find it slow
 * again waits for its slots (and stops the reading) before it is spilled, every round trip.
 */
const SLOW_MEMORY_MS = 10_000;
/** How long a worker remembers on its own that an endpoint answered 410 (see `gone`). */
const GONE_MS = 5_000;
/**
 * Sends waiting for their endpoint's own slots, per slot of the worker, that do not stop reading:
 * at a few thousand events a second, about what is read in the 100 ms it takes to find an
 * endpoint slow (10 × 50 slots: 500 sends; a few MiB with large events, and `DEFERRED_ALLOWANCE_MAX` caps it).
 */
const DEFERRED_ALLOWANCE = 10;
/**
 * An endpoint at its share that has answered nothing this long may be slow: see `buffered`. One
 * that has answered within this and has no request out for `SLOW_ENDPOINT_MS` is brisk: it may
 * hold more than its share (`briskConcurrency`).
 */
const SUSPECT_MS = 25;
/** However many slots: the deliveries held this way stay bounded (payloads of up to `bodyLimitBytes`). */
const DEFERRED_ALLOWANCE_MAX = 1_000;

/**
 * The first attempt of every delivery, sent straight from the ingest stream
 * rather than through a BullMQ job: a job costs several Redis scripts (add,
 * take, finish) that most deliveries — those answered 2xx at once — never
 * need. A failed first attempt becomes a job (a retry on the schedule, or a
 * dead letter), so the queue still holds every delivery that needs a second
 * look.
 *
 * Head-of-line isolation: an endpoint never holds more than
 * `endpointConcurrency` of the slots. With its share in flight, its next
 * deliveries wait for one of its own slots (not the others'), as long as it
 * answers fast; once it has had a request out for `SLOW_ENDPOINT_MS`, they go
 * to the queue instead, so a slow endpoint neither stalls the others nor
 * keeps entries in hand, and its requests out no longer hold the worker's
 * slots (`detached`).
 *
 * @example
 * const first = createFirstAttempts({ attempt, concurrency: 50, endpointConcurrency: 25, retrySchedule: [5000, 300000] });
 * const result = await first.send(job, Date.now());
 */
export function createFirstAttempts(deps: FirstAttemptsDeps): FirstAttempts {
  const { attempt, concurrency, endpointConcurrency, tracer } = deps;
  const briskConcurrency = Math.max(endpointConcurrency, Math.min(deps.briskConcurrency ?? 0, concurrency));
  const backoff = deliveryBackoff(deps.retrySchedule, deps.jitter);
  const clock = deps.clock ?? Date.now;
  /** Read, not yet looked at. */
  const waiting: Send[] = [];
  /** Requests out that hold one of the worker's slots. */
  const sending = new Set<Send>();
  /**
   * Requests out of endpoints found slow, which hold none (`concurrency` of them at most): they wait
   * on their sockets, seconds at a time, and the other endpoints get the whole worker meanwhile.
   */
  const detached = new Set<Send>();
  const lines = new Map<string, Line>();
  let deferred = 0;
  /** Room given to reads not yet dispatched. */
  let reserved = 0;
  let stopped = false;
  let sweep: NodeJS.Timeout | undefined;
  const roomWaiters: Array<() => void> = [];
  const idleWaiters: Array<() => void> = [];
  /**
   * Endpoints that answered 410, until when (performance.now()): the sends already read for them
   * become dead letters without a request. After that the dispatcher's per-batch read of the
   * disabled set has them (or, enabled again meanwhile, not).
   */
  const gone = new Map<string, number>();
  /** Endpoints whose last answer was slow (`SLOW_ENDPOINT_MS` or more), until when (performance.now()). */
  const slowAnswers = new Map<string, number>();

  // What is read and not sent yet: reading stops while that would fill every slot again. Sends in
  // flight do not count, so a slow endpoint's (its share at most) never hold the others' reading
  // up. Nor, up to `DEFERRED_ALLOWANCE` × the slots, do the sends waiting for the own slots of an
  // endpoint that has answered nothing for `SUSPECT_MS`: until it is found slow (QUIET_ENDPOINT_MS)
  // and they are spilled, the events read meanwhile bring the other endpoints' sends too, which
  // would otherwise wait that long. An endpoint that answers, only busy at its share, gets no
  // such read-ahead: what it has not sent yet stays in Redis, not in this process's memory.
  const allowance = Math.min(DEFERRED_ALLOWANCE * concurrency, DEFERRED_ALLOWANCE_MAX);
  function buffered(): number {
    if (deferred === 0) return reserved + waiting.length;
    const now = performance.now();
    let counted = reserved + waiting.length;
    let suspect = 0;
    for (const line of lines.values()) {
      if (line.deferred.length === 0) continue;
      if (now - line.lastDone >= SUSPECT_MS) suspect += line.deferred.length;
      else counted += line.deferred.length;
    }
    return counted + Math.max(0, suspect - allowance);
  }
  const empty = () => sending.size === 0 && detached.size === 0 && waiting.length === 0 && deferred === 0;

  function wake(): void {
    while (roomWaiters.length > 0 && (stopped || buffered() < concurrency)) roomWaiters.shift()!();
    if (empty()) for (const resolve of idleWaiters.splice(0)) resolve();
  }

  function lineOf(endpoint: string): Line {
    let line = lines.get(endpoint);
    if (!line) {
      line = { sending: new Set(), deferred: [], lastDone: performance.now(), answered: false, attached: 0 };
      lines.set(endpoint, line);
    }
    return line;
  }

  /**
   * How many sends the endpoint may have out. Its share; more while it answers briskly (it
   * answered within `SUSPECT_MS` and has no request out for `SLOW_ENDPOINT_MS`), so that one
   * endpoint alone uses the slots the others leave idle (see `startDeferred`); one only while its
   * last answer was slow (`SLOW_MEMORY_MS`) and another endpoint has sends here: the queue's
   * batches, with slots of their own, carry the rest, and the one out tells when it is fast again.
   * A brisk endpoint that stalls stops growing within `SUSPECT_MS`, and is found slow as any other:
   * what it holds then is freed as its requests end (`briskConcurrency` leaves the others a few
   * slots meanwhile).
   */
  function capOf(line: Line, endpoint: string, now: number): number {
    if (marked(slowAnswers, endpoint, now)) return lines.size > 1 ? 1 : endpointConcurrency;
    if (briskConcurrency === endpointConcurrency || !line.answered || now - line.lastDone >= SUSPECT_MS)
      return endpointConcurrency;
    const oldest = line.sending.values().next().value as Send | undefined;
    return oldest === undefined || now - oldest.startedAt < SLOW_ENDPOINT_MS ? briskConcurrency : endpointConcurrency;
  }

  /**
   * With its share in flight (`capOf`): has it answered nothing for `QUIET_ENDPOINT_MS`, had a
   * request out for `SLOW_ENDPOINT_MS`, or did its last answer take that long (`SLOW_MEMORY_MS`)?
   */
  function isSlow(line: Line, endpoint: string): boolean {
    const oldest = line.sending.values().next().value as Send | undefined;
    if (oldest === undefined) return false;
    const now = performance.now();
    if (line.sending.size < capOf(line, endpoint, now)) return false;
    return (
      now - line.lastDone >= QUIET_ENDPOINT_MS ||
      now - oldest.startedAt >= SLOW_ENDPOINT_MS ||
      marked(slowAnswers, endpoint, now)
    );
  }

  /**
   * Is it slow (`isSlow`)? Then its requests out give their worker slots back (`detached`), as many as
   * are free of those: they end in their own time, its share still counts them, and the sends waiting
   * for a slot take theirs at once.
   */
  function foundSlow(line: Line, endpoint: string): boolean {
    if (!isSlow(line, endpoint)) return false;
    let freed = false;
    // Asked for each of its deliveries the dispatcher reads: a line with none attached is not walked.
    for (const send of line.attached > 0 ? line.sending : []) {
      if (detached.size >= concurrency) break;
      if (!sending.delete(send)) continue;
      line.attached--;
      detached.add(send);
      freed = true;
    }
    // What waits for its own slots goes to the queue now, before anything newer of it (as the sweep would).
    if (line.deferred.length > 0) spillDeferred(line);
    // Inside `pump`, its loop takes them; otherwise (a check from the sweep or the dispatcher) now:
    // the sends waiting for a slot, then those deferred for their endpoints' own.
    if (freed && !pumping) {
      pump();
      for (const [other, otherLine] of lines) if (otherLine.deferred.length > 0) startDeferred(otherLine, other);
    }
    return true;
  }

  /**
   * Its deferred sends, oldest first, take the slots it may have (those settled at once take
   * none); past its share, only slots no other endpoint's send is waiting for. `detach`: they go
   * out among the detached (as many as there is room for), holding no worker slot.
   */
  function startDeferred(line: Line, endpoint: string, detach = false): void {
    while (line.deferred.length > 0 && (detach ? detached.size : sending.size) < concurrency) {
      if (line.sending.size >= capOf(line, endpoint, performance.now())) return;
      if (!detach && line.sending.size >= endpointConcurrency && waiting.length > 0) return;
      const next = line.deferred.shift()!;
      deferred--;
      if (!next.done) start(next, line, detach);
    }
  }

  /** To the queue: every send waiting for the line's own slots. */
  function spillDeferred(line: Line): void {
    for (const send of line.deferred.splice(0)) {
      deferred--;
      spillOne(send);
    }
  }

  /** To the queue, with no attempt here (one settled already stays as it is). */
  function spillOne(send: Send): void {
    if (send.job) finish(send, { kind: "spill", job: send.job });
  }

  /** To the queue: a slow endpoint's deferred sends, checked while any wait. */
  function spillSlow(): void {
    for (const [endpoint, line] of lines)
      if (line.deferred.length > 0 && foundSlow(line, endpoint)) spillDeferred(line);
    if (deferred === 0 && sweep) {
      clearInterval(sweep);
      sweep = undefined;
    }
    wake();
  }

  function defer(line: Line, send: Send): void {
    line.deferred.push(send);
    deferred++;
    if (!sweep) {
      sweep = setInterval(spillSlow, QUIET_ENDPOINT_MS / 2);
      sweep.unref();
    }
  }

  function finish(send: Send, result: FirstAttemptResult): void {
    if (send.done) return;
    send.done = true;
    send.resolve?.(result);
    send.job = undefined;
    send.resolve = undefined;
  }

  /** Sends it; says whether a request went out (it takes a slot) or it was settled at once. */
  function start(send: Send, line: Line, detach = false): boolean {
    const { job } = send;
    // Never asked of a settled one (the callers pass those over): nothing to send.
    if (!job) return false;
    if (marked(gone, send.endpoint)) {
      // It answered 410 a moment ago: what was already read for it is a dead letter, not a request.
      const deadLetter = { code: "ENDPOINT_DISABLED", message: "endpoint disabled" };
      finish(send, { kind: "queue", job: { ...job, data: { ...job.data, deadLetter } } });
      return false;
    }
    send.startedAt = performance.now();
    if (detach) detached.add(send);
    else {
      sending.add(send);
      line.attached++;
    }
    line.sending.add(send);
    const span = tracer ? startDeliverySpan(tracer, job.data, 1) : undefined;
    attempt(job.data, 1, span, { enabled: true, body: job.body })
      .then(
        (outcome) => {
          if (span) endDeliverySpan(span, outcome.ok ? undefined : outcome.error);
          if (!outcome.ok && outcome.error.code === "ENDPOINT_GONE")
            gone.set(send.endpoint, performance.now() + GONE_MS);
          // Handed back meanwhile: settled already, as a job of its own.
          if (send.done) return;
          const context = { readAt: send.readAt, finishedAt: clock(), schedule: deps.retrySchedule, backoff };
          try {
            finish(send, firstAttemptResult(job, outcome, context));
          } catch {
            // Never left unsettled: the queue tries it afresh.
            finish(send, { kind: "queue", job });
          }
        },
        (err: unknown) => {
          // Not the endpoint's doing (Redis failed while disabling a 410'd endpoint): the queue tries it afresh.
          if (span) endDeliverySpan(span, err);
          finish(send, { kind: "queue", job });
        },
      )
      .finally(() => {
        const wasDetached = !sending.delete(send);
        if (wasDetached) detached.delete(send);
        else line.attached--;
        line.sending.delete(send);
        line.lastDone = performance.now();
        line.answered = true;
        if (line.lastDone - send.startedAt >= SLOW_ENDPOINT_MS)
          slowAnswers.set(send.endpoint, line.lastDone + SLOW_MEMORY_MS);
        else if (slowAnswers.size > 0) slowAnswers.delete(send.endpoint);
        // Its own slot freed: the endpoint's deferred sends take it first (within its share), then
        // the sends waiting for a slot, then its deferred sends again (what no one else waits for).
        startDeferred(line, send.endpoint);
        if (line.sending.size === 0 && line.deferred.length === 0) lines.delete(send.endpoint);
        pump();
        startDeferred(line, send.endpoint);
        // A detached one frees no worker slot: with none of the endpoint's sends holding one, none would
        // end to start its deferred sends, so they take this one's place among the detached.
        if (wasDetached && line.attached === 0) startDeferred(line, send.endpoint, true);
      });
    return true;
  }

  /** Set while `pump` runs: an endpoint found slow meanwhile leaves the slots it frees to that run. */
  let pumping = false;
  /** Fills free slots from the waiting line (`fill`); an endpoint with its share in flight defers or goes to the queue. */
  function pump(): void {
    pumping = true;
    try {
      fill();
    } finally {
      pumping = false;
    }
    wake();
  }

  function fill(): void {
    while (waiting.length > 0) {
      const next = waiting[0]!;
      if (next.done) {
        waiting.shift();
        continue;
      }
      const line = lineOf(next.endpoint);
      // Behind its own deferred sends, if any: an endpoint's sends go out in the order read.
      if (line.deferred.length === 0 && line.sending.size < capOf(line, next.endpoint, performance.now())) {
        // Needs a slot of the worker's: with none free it waits at the head of the line.
        if (sending.size >= concurrency) break;
        waiting.shift();
        start(next, line);
      } else {
        // Needs none: it waits for its endpoint's own slots, or goes to the queue.
        waiting.shift();
        if (foundSlow(line, next.endpoint)) spillOne(next);
        else defer(line, next);
      }
    }
  }

  /** The sends in hand not settled yet (those settled have dropped their jobs). */
  const inHandSends = () =>
    [...sending, ...detached, ...[...lines.values()].flatMap((line) => line.deferred), ...waiting].filter(
      (send): send is Send & { job: DeliveryJob } => !send.done && send.job !== undefined,
    );

  return {
    async room(max) {
      while (!stopped && buffered() >= concurrency) await new Promise<void>((resolve) => roomWaiters.push(resolve));
      if (stopped) return 0;
      // Up to twice the slots read ahead: the next sets of sends, waiting for slots.
      const count = Math.max(1, Math.min(max, 2 * concurrency - buffered()));
      reserved += count;
      return count;
    },
    release(count) {
      reserved = Math.max(0, reserved - count);
      wake();
    },
    send(job, readAt) {
      return new Promise<FirstAttemptResult>((resolve) => {
        const endpoint = lineKey(job.data.tenant, job.data.endpointId);
        waiting.push({ job, readAt, endpoint, resolve, done: false, startedAt: 0 });
        pump();
      });
    },
    parked(tenant, endpointId) {
      const endpoint = lineKey(tenant, endpointId);
      const line = lines.get(endpoint);
      return line !== undefined && foundSlow(line, endpoint);
    },
    inFlight: () => inHandSends().map((send) => send.job.opts.jobId),
    handBackAll() {
      const sends = inHandSends();
      const ids = sends.map((send) => send.job.opts.jobId);
      for (const send of sends) spillOne(send);
      waiting.length = 0;
      for (const line of lines.values()) line.deferred.length = 0;
      deferred = 0;
      wake();
      return ids;
    },
    idle() {
      if (empty()) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
    stop() {
      stopped = true;
      clearInterval(sweep);
      sweep = undefined;
      // A shutdown waits for no endpoint's own slots: what waits for them goes to the queue now.
      for (const line of lines.values()) spillDeferred(line);
      wake();
    },
  };
}

/** Is `endpoint` marked in `marks` (endpoint → until when, performance.now()) at `now`? A mark past its time is dropped. */
function marked(marks: Map<string, number>, endpoint: string, now = performance.now()): boolean {
  const until = marks.get(endpoint);
  if (until === undefined) return false;
  if (now < until) return true;
  marks.delete(endpoint);
  return false;
}

/** An endpoint's line, by tenant and endpoint id (ids hold no newline: the config's id patterns). */
const lineKey = (tenant: string, endpointId: string) => `${tenant}\n${endpointId}`;
