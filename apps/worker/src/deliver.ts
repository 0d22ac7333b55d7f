import { type EndpointConfig, findEndpoint, type ImrelayConfig } from "@imrelay/config";
import { type ImrelayEvent, toPayload } from "@imrelay/core";
import {
  createRateLimiter,
  type DeliveryJobState,
  disableEndpoint,
  isEndpointDisabled,
  type LastResponse,
  type RedisClient,
  type RedisKeys,
  type TakeRateTurn,
} from "@imrelay/store";
import type { Span, Tracer } from "@opentelemetry/api";
import { DelayedError, type Job } from "bullmq";
import type { Logger } from "pino";
import type { Dispatcher } from "undici";
import { DeliveryError, UnrecoverableDeliveryError } from "./errors.js";
import type { WorkerMetrics } from "./metrics.js";
import { type SendResult, send } from "./send.js";
import { signedHeaders } from "./sign.js";
import { endDeliverySpan, serverAttributes, startDeliverySpan } from "./tracing.js";

/** What a successful delivery job returns (BullMQ keeps it as `returnvalue`). */
export interface DeliveryResult {
  status: number;
  attempt: number;
  durationMs: number;
}

export interface DeliveryProcessorDeps {
  config: Pick<ImrelayConfig, "tenants" | "delivery">;
  /** For the run-time disabled hash. */
  redis: RedisClient;
  keys: RedisKeys;
  logger: Logger;
  metrics: WorkerMetrics;
  /** The undici dispatcher requests go through (the SSRF guard lives in it). */
  dispatcher: Dispatcher;
  /** ms since the epoch. @default Date.now */
  clock?: () => number;
  /** Traces each attempt (README "Tracing"). @default none: no spans, no cost */
  tracer?: Tracer | undefined;
  /** Turns at endpoints' `rateLimit`. @default createRateLimiter({ redis, keys }) */
  takeRateTurn?: TakeRateTurn;
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
  const { config, redis, keys, logger, metrics, dispatcher, tracer } = deps;
  const clock = deps.clock ?? Date.now;
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
    const { tenant, endpointId, event } = job.data;
    const attempt = job.attemptsMade + 1;
    const context = { tenant, endpoint: endpointId, eventId: event.id, attempt };

    const endpoint = findEndpoint(config, tenant, endpointId);
    if (!endpoint) {
      span?.setAttribute("imrelay.outcome", "unknown_endpoint");
      // Queued before a reload (or a restart) that took the endpoint or its tenant out of the config:
      // nothing to send it to, so it becomes a dead letter at once, replayable if the endpoint comes back.
      logger.warn(
        { ...context, outcome: "unknown_endpoint" },
        "delivery is a dead letter: its endpoint is no longer in the config",
      );
      throw new UnrecoverableDeliveryError(
        "ENDPOINT_UNKNOWN",
        `endpoint ${endpointId} of tenant ${tenant} is no longer in the config (removed by a reload or a restart): not sent`,
      );
    }
    if (!endpoint.enabled || (await isEndpointDisabled(redis, keys, tenant, endpointId))) {
      span?.setAttribute("imrelay.outcome", "disabled");
      logger.warn(
        { ...context, outcome: "disabled" },
        "delivery failed: endpoint disabled (a dead letter until replayed)",
      );
      throw new UnrecoverableDeliveryError("ENDPOINT_DISABLED", "endpoint disabled");
    }

    const body = JSON.stringify(toPayload(event as unknown as ImrelayEvent));
    const headers = signedHeaders({ id: event.id, body, secret: endpoint.secret, now: clock() });
    const started = performance.now();
    const result = await send({
      url: endpoint.url,
      headers,
      body,
      timeoutMs: config.delivery.timeoutMs,
      dispatcher,
      allowPrivateNetworks: config.delivery.allowPrivateNetworks,
      now: clock,
    });
    const durationMs = Math.round(performance.now() - started);
    if (span) {
      span.setAttributes(serverAttributes(endpoint.url));
      span.setAttribute("imrelay.outcome", result.outcome);
      if (result.status !== null) span.setAttribute("http.response.status_code", result.status);
    }

    metrics.deliveries.inc({ tenant, endpoint: endpointId, outcome: result.outcome });
    metrics.deliverySeconds.observe({ tenant, endpoint: endpointId }, durationMs / 1000);
    const line = { ...context, outcome: result.outcome, status: result.status, durationMs };

    if (result.outcome === "2xx" && result.status !== null) {
      const occurredAt = Date.parse(event.occurredAt);
      if (!Number.isNaN(occurredAt))
        metrics.eventAgeSeconds.observe({ tenant }, Math.max(0, clock() - occurredAt) / 1000);
      if (logger.isLevelEnabled("info")) logger.info(line, "delivered");
      return { status: result.status, attempt, durationMs };
    }

    logger.warn({ ...line, error: result.errorCode }, "delivery attempt failed");
    const lastResponse: LastResponse = {
      status: result.status,
      bodyExcerpt: result.bodyExcerpt,
      error: result.errorCode,
      attempt,
      at: new Date(clock()).toISOString(),
    };
    await job.updateData({ ...job.data, lastResponse });
    const error = await failure(result, endpoint, deps, tenant, clock);
    // This worker's next deliveries to it fail at once, without waiting for its copy to age.
    throw error;
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
    const span = startDeliverySpan(tracer, job.data, job.attemptsMade + 1);
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

/** The error that tells BullMQ what to do next; messages name the endpoint id, never its URL or secret. */
async function failure(
  result: SendResult,
  endpoint: EndpointConfig,
  { redis, keys, logger, config }: DeliveryProcessorDeps,
  tenant: string,
  clock: () => number,
): Promise<Error> {
  const name = `endpoint ${endpoint.id}`;
  if (result.status === 410) {
    // 410 says the receiver is gone for good: stop sending it anything until someone enables it again.
    await disableEndpoint(redis, keys, tenant, endpoint.id, "410 Gone", new Date(clock()));
    logger.warn({ tenant, endpoint: endpoint.id }, "endpoint answered 410 Gone: disabled");
    return new UnrecoverableDeliveryError("ENDPOINT_GONE", `HTTP 410 from ${name}: endpoint disabled`, 410);
  }
  if (result.outcome === "refused") {
    return new UnrecoverableDeliveryError(
      "DESTINATION_REFUSED",
      `${result.refusal ?? "destination refused"} (${name})`,
    );
  }
  if (result.outcome === "timeout") {
    return new DeliveryError("TIMEOUT", `no answer within ${config.delivery.timeoutMs} ms from ${name}`);
  }
  if (result.status === null) {
    return new DeliveryError("CONNECTION_FAILED", `connection to ${name} failed (${result.errorCode})`);
  }
  return new DeliveryError("HTTP_ERROR", `HTTP ${result.status} from ${name}`, {
    status: result.status,
    retryAfterMs: result.retryAfterMs,
  });
}
