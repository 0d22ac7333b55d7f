import { type EndpointConfig, findEndpoint, type ImrelayConfig } from "@imrelay/config";
import { type ImrelayEvent, toPayload } from "@imrelay/core";
import {
  type DeliveryJobData,
  disableEndpoint,
  isEndpointDisabled,
  type LastResponse,
  type RedisClient,
  type RedisKeys,
} from "@imrelay/store";
import type { Span } from "@opentelemetry/api";
import type { Logger } from "pino";
import type { Dispatcher } from "undici";
import { configMemo } from "./config-memo.js";
import { DeliveryError, UnrecoverableDeliveryError } from "./errors.js";
import type { WorkerMetrics } from "./metrics.js";
import { type SendResult, send } from "./send.js";
import { signedHeaders } from "./sign.js";
import { serverAttributes } from "./tracing.js";

/** What a successful delivery returns (BullMQ keeps it as a job's `returnvalue`). */
export interface DeliveryResult {
  status: number;
  attempt: number;
  durationMs: number;
}

/** What one attempt came to: the answer, or the error that says what happens next. */
export type AttemptOutcome =
  | { ok: true; result: DeliveryResult; body: string }
  | {
      ok: false;
      /** `DeliveryError`: retry on the schedule; `UnrecoverableDeliveryError`: a dead letter now. */
      error: DeliveryError | UnrecoverableDeliveryError;
      /** The endpoint's answer, when a request was made. */
      lastResponse?: LastResponse;
    };

export interface AttemptDeps {
  config: Pick<ImrelayConfig, "tenants" | "delivery">;
  /** For the run-time disabled hash, and to disable an endpoint that answers 410. */
  redis: RedisClient;
  keys: RedisKeys;
  logger: Logger;
  metrics: WorkerMetrics;
  /** The undici dispatcher requests go through (the SSRF guard lives in it). */
  dispatcher: Dispatcher;
  /** ms since the epoch. @default Date.now */
  clock?: () => number;
}

/** One attempt at a delivery. */
export type Attempt = (
  data: DeliveryJobData,
  attempt: number,
  span?: Span,
  options?: {
    /** The caller already knows the endpoint is not disabled at run time. */
    enabled?: boolean;
    /** The payload's JSON text, when the caller has it (`payloadJson`). */
    body?: string | undefined;
  },
) => Promise<AttemptOutcome>;

/**
 * One signed POST of one delivery, with its metrics and log line, whoever
 * holds the delivery: a BullMQ job (deliver.ts) or the first attempt sent
 * straight from the ingest stream (first-attempts.ts). It never throws for
 * the endpoint's sake: every failure is an outcome.
 *
 * @example
 * const attempt = createAttempt({ config, redis, keys, logger, metrics, dispatcher });
 * const outcome = await attempt(job.data, 1);
 */
export function createAttempt(deps: AttemptDeps): Attempt {
  const { config, redis, keys, logger, metrics, dispatcher } = deps;
  const clock = deps.clock ?? Date.now;
  const series = endpointSeries(metrics);

  return async (data, attempt, span, options) => {
    const { tenant, endpointId, event } = data;

    const endpoint = findEndpoint(config, tenant, endpointId);
    if (!endpoint) {
      span?.setAttribute("imrelay.outcome", "unknown_endpoint");
      // Queued before a reload (or a restart) that took the endpoint or its tenant out of the config:
      // nothing to send it to, so it becomes a dead letter at once, replayable if the endpoint comes back.
      logger.warn(
        logFields(data, attempt, { outcome: "unknown_endpoint" }),
        "delivery is a dead letter: its endpoint is no longer in the config",
      );
      return {
        ok: false,
        error: new UnrecoverableDeliveryError(
          "ENDPOINT_UNKNOWN",
          `endpoint ${endpointId} of tenant ${tenant} is no longer in the config (removed by a reload or a restart): not sent`,
        ),
      };
    }
    if (!endpoint.enabled || (!options?.enabled && (await isEndpointDisabled(redis, keys, tenant, endpointId)))) {
      span?.setAttribute("imrelay.outcome", "disabled");
      logger.warn(
        logFields(data, attempt, { outcome: "disabled" }),
        "delivery failed: endpoint disabled (a dead letter until replayed)",
      );
      return { ok: false, error: new UnrecoverableDeliveryError("ENDPOINT_DISABLED", "endpoint disabled") };
    }

    const body = options?.body ?? JSON.stringify(toPayload(event as unknown as ImrelayEvent));
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

    const own = series(tenant, endpointId);
    own.deliveries(result.outcome).inc();
    own.seconds.observe(durationMs / 1000);

    if (result.outcome === "2xx" && result.status !== null) {
      const occurredAt = Date.parse(event.occurredAt);
      if (!Number.isNaN(occurredAt)) own.age.observe(Math.max(0, clock() - occurredAt) / 1000);
      if (logger.isLevelEnabled("info"))
        logger.info(
          logFields(data, attempt, { outcome: result.outcome, status: result.status, durationMs }),
          "delivered",
        );
      return { ok: true, result: { status: result.status, attempt, durationMs }, body };
    }

    logger.warn(
      logFields(data, attempt, { outcome: result.outcome, status: result.status, durationMs, error: result.errorCode }),
      "delivery attempt failed",
    );
    const lastResponse: LastResponse = {
      status: result.status,
      bodyExcerpt: result.bodyExcerpt,
      error: result.errorCode,
      attempt,
      at: new Date(clock()).toISOString(),
    };
    return { ok: false, error: await failure(result, endpoint, deps, tenant, clock), lastResponse };
  };
}

/**
 * An attempt's log fields, built only for a line that is written: at thousands of deliveries a
 * second the objects of "delivered" lines nobody logs are a measurable share of the garbage.
 */
function logFields(data: DeliveryJobData, attempt: number, more: Record<string, unknown>) {
  return { tenant: data.tenant, endpoint: data.endpointId, eventId: data.event.id, attempt, ...more };
}

/** The error that says what to do next; messages name the endpoint id, never its URL or secret. */
async function failure(
  result: SendResult,
  endpoint: EndpointConfig,
  { redis, keys, logger, config }: AttemptDeps,
  tenant: string,
  clock: () => number,
): Promise<DeliveryError | UnrecoverableDeliveryError> {
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

/**
 * Each endpoint's metric series, looked up once: prom-client hashes the labels
 * on every `inc({…})`, which counts at thousands of deliveries a second.
 */
function endpointSeries(metrics: WorkerMetrics) {
  // Tenant and endpoint ids hold no newline (the config's id patterns).
  const kept = configMemo((key) => {
    const [tenant = "", endpoint = ""] = key.split("\n");
    // Outcomes are six at most: kept for the life of the series.
    const byOutcome = configMemo((outcome) => metrics.deliveries.labels({ tenant, endpoint, outcome }));
    return {
      deliveries: byOutcome,
      seconds: metrics.deliverySeconds.labels({ tenant, endpoint }),
      age: metrics.eventAgeSeconds.labels({ tenant }),
    };
  });
  return (tenant: string, endpoint: string) => kept(`${tenant}\n${endpoint}`);
}
