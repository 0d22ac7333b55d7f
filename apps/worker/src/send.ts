import { type Dispatcher, request } from "undici";
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
 * more than the HMAC). A 2xx body is read and discarded, so the connection
 * can be reused.
 *
 * @example
 * const result = await send({ url, headers, body, timeoutMs: 15000, dispatcher: agent, allowPrivateNetworks: false, now: Date.now });
 * if (result.outcome !== "2xx") throw …;
 */
export async function send(options: SendOptions): Promise<SendResult> {
  const { url, headers, body, timeoutMs, dispatcher, allowPrivateNetworks, now } = options;
  const deadline = performance.now() + timeoutMs;
  try {
    if (!allowPrivateNetworks) assertPublicIpLiteral(hostOf(url));
    const response = await request(url, {
      method: "POST",
      headers,
      body,
      dispatcher,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const outcome = outcomeOfStatus(response.statusCode);
    const unwatch = watchBody(response.body, deadline);
    if (outcome === "2xx") {
      try {
        await response.body.dump({ limit: 1024 * 1024 });
      } finally {
        unwatch();
      }
      return { outcome, status: response.statusCode, bodyExcerpt: null, errorCode: null };
    }
    const bodyExcerpt = await readExcerpt(response.body).finally(unwatch);
    const retryAfterMs =
      response.statusCode === 429 || response.statusCode === 503
        ? parseRetryAfter(response.headers["retry-after"], now())
        : undefined;
    return { outcome, status: response.statusCode, bodyExcerpt, errorCode: "HTTP_ERROR", retryAfterMs };
  } catch (err) {
    if (findErrorCode(err, "DESTINATION_REFUSED")) {
      const refusal = refusalOf(err);
      return { outcome: "refused", status: null, bodyExcerpt: null, errorCode: "DESTINATION_REFUSED", refusal };
    }
    if (isTimeoutError(err)) return { outcome: "timeout", status: null, bodyExcerpt: null, errorCode: "TIMEOUT" };
    return { outcome: "error", status: null, bodyExcerpt: null, errorCode: systemCode(err) ?? "CONNECTION_FAILED" };
  }
}

/** An answer's body still being read, and when its request's `timeoutMs` runs out (performance.now()). */
const reading = new Map<{ destroy(err?: Error): unknown }, number>();
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

function watchBody(body: { destroy(err?: Error): unknown }, deadline: number): () => void {
  reading.set(body, deadline);
  if (!sweeper) {
    sweeper = setInterval(sweep, SWEEP_EVERY_MS);
    sweeper.unref();
  }
  return () => reading.delete(body);
}

/** Endpoint URLs come from the config: each is parsed once, not once per delivery. */
const hostOf = configMemo((url) => new URL(url).hostname);

function refusalOf(err: unknown): string {
  let current: unknown = err;
  for (let depth = 0; current && depth < 5; depth++) {
    if (current instanceof DestinationRefusedError) return current.message;
    current = (current as { cause?: unknown }).cause;
  }
  return "destination refused";
}

/** Reads at most a few KB: an endpoint's error page can be large, and only its start is kept. */
async function readExcerpt(body: AsyncIterable<Buffer> & { destroy(): unknown }): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= BODY_EXCERPT_BYTES) break;
    }
  } catch {
    // A body cut short still has an excerpt worth keeping.
  } finally {
    body.destroy();
  }
  return Buffer.concat(chunks).toString("utf8").slice(0, BODY_EXCERPT_CHARS);
}
