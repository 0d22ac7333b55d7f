import { type EndpointConfig, findEndpoint, type ImrelayConfig } from "@imrelay/config";
import { type ImrelayEvent, toPayload } from "@imrelay/core";
import {
  type DeliveryJobState,
  disableEndpoint,
  isEndpointDisabled,
  type LastResponse,
  type RedisClient,
  type RedisKeys,
} from "@imrelay/store";
import type { Job } from "bullmq";
import type { Logger } from "pino";
import type { Dispatcher } from "undici";
import { DeliveryError, UnrecoverableDeliveryError } from "./errors.js";
import type { WorkerMetrics } from "./metrics.js";
import { type SendResult, send } from "./send.js";
import { signedHeaders } from "./sign.js";

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
}

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
  const { config, redis, keys, logger, metrics, dispatcher } = deps;
  const clock = deps.clock ?? Date.now;

  return async function deliver(job: Job<DeliveryJobState>): Promise<DeliveryResult> {
    const { tenant, endpointId, event } = job.data;
    const attempt = job.attemptsMade + 1;
    const context = { tenant, endpoint: endpointId, eventId: event.id, attempt };

    const endpoint = findEndpoint(config, tenant, endpointId);
    if (!endpoint) {
      logger.warn({ ...context, outcome: "unknown_endpoint" }, "delivery failed: endpoint is not configured");
      throw new UnrecoverableDeliveryError(
        "ENDPOINT_UNKNOWN",
        `endpoint ${endpointId} of tenant ${tenant} is not configured`,
      );
    }
    if (!endpoint.enabled || (await isEndpointDisabled(redis, keys, tenant, endpointId))) {
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

    metrics.deliveries.inc({ tenant, endpoint: endpointId, outcome: result.outcome });
    metrics.deliverySeconds.observe({ tenant, endpoint: endpointId }, durationMs / 1000);
    const line = { ...context, outcome: result.outcome, status: result.status, durationMs };

    if (result.outcome === "2xx" && result.status !== null) {
      const occurredAt = Date.parse(event.occurredAt);
      if (!Number.isNaN(occurredAt))
        metrics.eventAgeSeconds.observe({ tenant }, Math.max(0, clock() - occurredAt) / 1000);
      logger.info(line, "delivered");
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
    throw await failure(result, endpoint, deps, tenant, clock);
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
