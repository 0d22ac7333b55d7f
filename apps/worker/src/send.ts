import type { Dispatcher } from "undici";
import { type DeliveryOutcome, isTimeoutError, outcomeOfStatus, systemCode } from "./classify.js";
import { configMemo } from "./config-memo.js";
import { findErrorCode } from "./errors.js";
import { parseRetryAfter } from "./retry-after.js";
import { assertPublicIpLiteral, DestinationRefusedError } from "./ssrf.js";

/** How much of a failed answer's body is kept for the admin API. */
export const BODY_EXCERPT_CHARS = 512;
const BODY_EXCERPT_BYTES = 4 * BODY_EXCERPT_CHARS;

/** What one POST to an endpoint came to. `send` never throws: every failure is a result. */
export interface SendResult {
  outcome: DeliveryOutcome;
  status: number | null;
  /** The first 512 characters of a non-2xx body; null on success or when there was no answer. */
  bodyExcerpt: string | null;
  /** `TIMEOUT`, `DESTINATION_REFUSED`, a system code (`ECONNREFUSED`), or null for an HTTP answer. */
  errorCode: string | null;
  /** From `Retry-After` on 429/503. */
  retryAfterMs?: number;
  /** Says why a destination was refused (host and range, nothing secret). */
  refusal?: string;
}

export interface SendOptions {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  dispatcher: Dispatcher;
  allowPrivateNetworks: boolean;
  now: () => number;
}

/**
 * POSTs one signed delivery. Connecting, then the answer's headers, must each
 * come within `timeoutMs` (undici's own timers), and the answer's body within
 * `timeoutMs` of the request's start (one shared sweep, not a timer and an
 * AbortSignal per request: at thousands of deliveries a second those cost
 * more than the HMAC). A 2xx body is read and discarded (up to 1 MiB, then
 * the connection is dropped), so the connection can be reused.
 *
 * Straight on undici's `dispatch` with a handler of its own rather than
 * `undici.request`: that builds a Readable stream, an async resource and a
 * handler chain per answer only for the body to be thrown away, about a third
 * of the CPU a request costs.
 *
 * @example
 * const result = await send({ url, headers, body, timeoutMs: 15000, dispatcher: agent, allowPrivateNetworks: false, now: Date.now });
 * if (result.outcome !== "2xx") throw …;
 */
export function send(options: SendOptions): Promise<SendResult> {
  const { url, headers, body, timeoutMs, dispatcher, allowPrivateNetworks, now } = options;
  return new Promise<SendResult>((resolve) => {
    try {
      const target = targetOf(url);
      if (!allowPrivateNetworks) assertPublicIpLiteral(target.hostname);
      dispatcher.dispatch(
        {
          origin: target.origin,
          path: target.path,
          method: "POST",
          headers,
          body,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        },
        new Answer(resolve, performance.now() + timeoutMs, now),
      );
    } catch (err) {
      resolve(failed(err));
    }
  });
}

/** A 2xx body is discarded up to this size; past it the connection is dropped (the delivery still counts). */
const DISCARD_LIMIT_BYTES = 1024 * 1024;

/** The answer to one POST, settled once: by the end of its body, or by the first error. */
class Answer implements Dispatcher.DispatchHandler {
  private status = 0;
  private retryAfter: string | string[] | undefined;
  private received = 0;
  /** A non-2xx body's start, for the excerpt. */
  private chunks: Buffer[] | undefined;
  private controller: Dispatcher.DispatchController | undefined;
  private settled = false;

  constructor(
    private readonly resolve: (result: SendResult) => void,
    private readonly deadline: number,
    private readonly now: () => number,
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    this.controller = controller;
    // An informational answer (102, 103) is not the answer: the final one follows.
    if (statusCode < 200) return;
    this.status = statusCode;
    if (statusCode === 429 || statusCode === 503) this.retryAfter = headers["retry-after"];
    this.chunks = outcomeOfStatus(statusCode) === "2xx" ? undefined : [];
    watchBody(this, this.deadline);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.received += chunk.length;
    if (this.chunks) {
      this.chunks.push(chunk);
      // Only the start is kept: an endpoint's error page can be large.
      if (this.received >= BODY_EXCERPT_BYTES) this.stop(controller);
    } else if (this.received > DISCARD_LIMIT_BYTES) this.stop(controller);
  }

  onResponseEnd(): void {
    this.settle();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    // With the status in hand, a body cut short (by us, or by the endpoint) still leaves an answer.
    if (this.status !== 0) this.settle();
    else this.settleWith(failed(err));
  }

  /** The body sweep's cut-off (the same hook a stream's destroy is). */
  destroy(err: Error): void {
    this.controller?.abort(err);
  }

  /** Has what it needs of the body: the answer is settled and the rest of it dropped. */
  private stop(controller: Dispatcher.DispatchController): void {
    this.settle();
    controller.abort(new Error("the rest of the answer's body is not needed"));
  }

  private settle(): void {
    const { status } = this;
    const outcome = outcomeOfStatus(status);
    if (outcome === "2xx") {
      this.settleWith({ outcome, status, bodyExcerpt: null, errorCode: null });
      return;
    }
    const bodyExcerpt = Buffer.concat(this.chunks ?? [])
      .toString("utf8")
      .slice(0, BODY_EXCERPT_CHARS);
    const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(this.retryAfter, this.now()) : undefined;
    this.settleWith({ outcome, status, bodyExcerpt, errorCode: "HTTP_ERROR", retryAfterMs });
  }

  private settleWith(result: SendResult): void {
    if (this.settled) return;
    this.settled = true;
    reading.delete(this);
    this.resolve(result);
  }
}

/** What a request that got no answer came to. */
function failed(err: unknown): SendResult {
  if (findErrorCode(err, "DESTINATION_REFUSED")) {
    const refusal = refusalOf(err);
    return { outcome: "refused", status: null, bodyExcerpt: null, errorCode: "DESTINATION_REFUSED", refusal };
  }
  if (isTimeoutError(err)) return { outcome: "timeout", status: null, bodyExcerpt: null, errorCode: "TIMEOUT" };
  return { outcome: "error", status: null, bodyExcerpt: null, errorCode: systemCode(err) ?? "CONNECTION_FAILED" };
}

/** An answer's body still being read, and when its request's `timeoutMs` runs out (performance.now()). */
const reading = new Map<{ destroy(err: Error): unknown }, number>();
let sweeper: NodeJS.Timeout | undefined;
const SWEEP_EVERY_MS = 250;

/** Cuts off the bodies read past their deadline; runs only while some are being read. */
function sweep(): void {
  const at = performance.now();
  for (const [body, deadline] of reading) {
    if (at < deadline) continue;
    reading.delete(body);
    const err = new Error("the answer's body did not arrive within timeoutMs");
    err.name = "TimeoutError";
    body.destroy(err);
  }
  if (reading.size === 0 && sweeper) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

function watchBody(body: { destroy(err: Error): unknown }, deadline: number): void {
  reading.set(body, deadline);
  if (!sweeper) {
    sweeper = setInterval(sweep, SWEEP_EVERY_MS);
    sweeper.unref();
  }
}

/** Endpoint URLs come from the config: each is parsed once, not once per delivery. */
const targetOf = configMemo((url) => {
  const parsed = new URL(url);
  return { origin: parsed.origin, path: `${parsed.pathname}${parsed.search}`, hostname: parsed.hostname };
});

function refusalOf(err: unknown): string {
  let current: unknown = err;
  for (let depth = 0; current && depth < 5; depth++) {
    if (current instanceof DestinationRefusedError) return current.message;
    current = (current as { cause?: unknown }).cause;
  }
  return "destination refused";
}
