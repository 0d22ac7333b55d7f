import type { IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import { findTenant, type ImrelayConfig } from "@imrelay/config";
import { CallbackError, headerValue, isoTime, type VendorResult } from "@imrelay/core";
import type { HoldOutcome, Ingest, IngestOutcome, RedisClient, RedisKeys } from "@imrelay/store";
import type { Span, Tracer } from "@opentelemetry/api";
import type { Logger } from "pino";
import type { CallbackRoute } from "../http/callback-route.js";
import { isJsonContentType } from "../http/content-type.js";
import { type IpAllowList, ipAllowList } from "../http/ip-allow.js";
import type { RateLimiter } from "../http/rate-limit.js";
import { readRawBody } from "../http/raw-body.js";
import type { GatewayMetrics } from "../metrics.js";
import { errorToAnswer } from "./errors-to-answer.js";
import { endCallbackSpan, startCallbackSpan, traceEnqueue } from "./tracing.js";
import { keepUnrecognized, parsedBody, withoutSecrets } from "./unrecognized.js";
import { type Vendor, vendorSection } from "./vendor.js";
import { clampVendorTime } from "./vendor-clock.js";

export interface CallbackContext {
  config: ImrelayConfig;
  redis: RedisClient;
  keys: RedisKeys;
  ingest: Ingest;
  clock: () => number;
  logger: Logger;
  metrics: GatewayMetrics;
  rateLimit: RateLimiter;
  /** The caller's address, honouring `gateway.trustProxy` as Express's `req.ip` does. */
  clientIp: (req: IncomingMessage) => string | undefined;
  /** Traces each callback and its enqueue when given (README "Tracing"); undefined costs nothing. */
  tracer?: Tracer | undefined;
}

/**
 * Handles one vendor callback on the raw request and response (no Express on
 * this path). `stopped` rejects, with a `CallbackError`, when the server gives
 * up on the request (its body too slow, or not valid HTTP).
 */
export type CallbackHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  route: CallbackRoute,
  stopped?: Promise<never>,
) => Promise<void>;

/** Refusals after which what is left of the request on the connection cannot be trusted or waited for. */
const CLOSE_AFTER = new Set(["PAYLOAD_TOO_LARGE", "REQUEST_TIMEOUT", "MALFORMED_HTTP"]);

function sendJson(res: ServerResponse, status: number, body: unknown, close = false) {
  const text = JSON.stringify(body);
  const headers: Record<string, string | number> = {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  };
  // A body left unread must not be parsed as the next request on this connection.
  if (close) headers.connection = "close";
  res.writeHead(status, headers).end(text);
}

/** The label of callbacks for tenants that do not exist: a caller must not be able to mint label values. */
export const UNKNOWN_TENANT_LABEL = "_unknown";

type CallbackOutcome = Exclude<IngestOutcome, "held"> | "unrecognized" | "ignored";

/** What the callback's log line says beyond its outcome. `hold`: what it did to an offline inside `presence.offlineGrace`. */
interface CallbackLog {
  eventId?: string;
  userId?: string;
  operationId?: string;
  hold?: "held" | HoldOutcome;
}

/** Per tenant, what the handler looks up on every callback: its source-address check, whether it keeps `raw`. */
function tenantLookups(tenants: ImrelayConfig["tenants"], provider: string) {
  const allowLists = new Map<string, IpAllowList | undefined>();
  for (const [name, tenant] of Object.entries(tenants)) {
    allowLists.set(name, ipAllowList(vendorSection(tenant, provider)?.allowIps));
  }
  const includeRaw = new Set(
    Object.entries(tenants)
      .filter(([, tenant]) => tenant.endpoints.some((endpoint) => endpoint.includeRaw))
      .map(([name]) => name),
  );
  return { tenants, allowLists, includeRaw };
}

/**
 * The route handler of one vendor's callback URL. Checks run cheapest first
 * (tenant, source address, rate, content type, size) so a flood is refused
 * before its body is read; the answer is OK only once Redis has the event.
 *
 * @example
 * const tencent = callbackHandler(tencentVendor, ctx);
 * const route = matchCallbackRoute(req);
 * if (route?.provider === "tencent") await tencent(req, res, route);
 */
export function callbackHandler(vendor: Vendor, ctx: CallbackContext): CallbackHandler {
  const { config, keys, redis, ingest, clock, logger, metrics, rateLimit, clientIp, tracer } = ctx;
  // Built from the tenants once, not per callback; again when a reload puts other tenants in effect.
  let derived = tenantLookups(config.tenants, vendor.provider);
  const spanRoute = `/v1/tenants/{tenant}/${vendor.provider}`;

  async function accept(
    req: IncomingMessage,
    route: CallbackRoute,
    log: CallbackLog,
    stopped: Promise<never> | undefined,
    span: Span | undefined,
  ) {
    const { tenant, query, path } = route;
    if (derived.tenants !== config.tenants) derived = tenantLookups(config.tenants, vendor.provider);
    const { allowLists, includeRaw } = derived;
    const settings = findTenant(config, tenant);
    const section = settings ? vendorSection(settings, vendor.provider) : undefined;
    if (!settings || !section) {
      throw new CallbackError("UNKNOWN_TENANT", `no tenant "${tenant}" with a ${vendor.provider} section`);
    }
    const allowed = allowLists.get(tenant);
    if (allowed) {
      const ip = clientIp(req);
      if (!allowed(ip)) {
        throw new CallbackError("IP_NOT_ALLOWED", `address ${ip ?? "(unknown)"} is not in the tenant's allowIps`);
      }
    }
    if (!rateLimit(tenant, settings.rateLimit)) {
      throw new CallbackError(
        "RATE_LIMITED",
        `tenant "${tenant}" is over its rate of ${settings.rateLimit?.perSecond}/s`,
      );
    }
    const contentType = headerValue(req.headers, "content-type");
    if (contentType !== undefined && !isJsonContentType(contentType)) {
      throw new CallbackError("UNSUPPORTED_MEDIA_TYPE", `content-type ${contentType.slice(0, 100)} is not JSON`);
    }
    const body = await readRawBody(req, config.gateway.bodyLimitBytes, stopped);
    const now = clock();
    const result: VendorResult = vendor.handle({ body, query, headers: req.headers, path }, { tenant, section, now });
    if (result.operationId !== undefined) log.operationId = result.operationId;

    if (result.unrecognized) {
      await keepUnrecognized(
        { redis, keys },
        {
          tenant,
          provider: vendor.provider,
          reason: result.unrecognizedReason ?? "unrecognized",
          receivedAt: isoTime(now),
          body: parsedBody(body, vendor.secrets.body),
          query: withoutSecrets(query, vendor.secrets.query),
        },
      );
      metrics.unrecognized.inc({ tenant, provider: vendor.provider });
      return { outcome: "unrecognized" as CallbackOutcome, response: result.response };
    }

    let outcome: CallbackOutcome = "ignored";
    const raw = includeRaw.has(tenant)
      ? { body: parsedBody(body, vendor.secrets.body), query: withoutSecrets(query, vendor.secrets.query) }
      : undefined;
    for (const vendorEvent of result.events) {
      const clamped = clampVendorTime(vendorEvent, config.presence.maxClockSkew);
      if (clamped) {
        metrics.vendorClockClamped.inc({ tenant, provider: vendor.provider });
        logger.debug(
          {
            tenant,
            provider: vendor.provider,
            eventId: vendorEvent.id,
            occurredAt: vendorEvent.occurredAt,
            receivedAt: vendorEvent.receivedAt,
          },
          "vendor time ahead of the gateway's clock: taken as the gateway's",
        );
      }
      const event = clamped ?? vendorEvent;
      const ingested =
        tracer && span
          ? await traceEnqueue(tracer, span, event, (traceparent) =>
              ingest(event, raw ? { raw, traceparent } : { traceparent }),
            )
          : await ingest(event, raw ? { raw } : {});
      if (outcome === "ignored") {
        // A held offline is accepted and durably in Redis, as a queued one is: the vendor's callback counts as queued.
        outcome = ingested.outcome === "held" ? "queued" : ingested.outcome;
        log.eventId = event.id;
        log.userId = event.userId;
      }
      if (ingested.outcome === "renewal") metrics.renewalsSuppressed.inc({ tenant });
      else if (ingested.outcome === "held") {
        metrics.offlineHolds.inc({ tenant, outcome: "held" });
        log.hold = "held";
      } else if (ingested.hold) {
        metrics.offlineHolds.inc({ tenant, outcome: ingested.hold });
        log.hold = ingested.hold;
      }
    }
    return { outcome, response: result.response };
  }

  return async (req, res, route, stopped) => {
    const started = performance.now();
    const span = tracer ? startCallbackSpan(tracer, vendor.provider, spanRoute) : undefined;
    const { tenant } = route;
    const log: CallbackLog = {};
    let status = 200;
    let outcome: string;
    let err: unknown;
    let unexpected = false;
    let errorCode: string | undefined;
    try {
      const accepted = await accept(req, route, log, stopped, span);
      outcome = accepted.outcome;
      sendJson(res, 200, accepted.response);
    } catch (caught) {
      err = caught;
      const answer = errorToAnswer(caught, vendor);
      status = answer.status;
      errorCode = answer.code;
      outcome = answer.code.toLowerCase();
      unexpected = answer.unexpected;
      if (!res.headersSent) sendJson(res, status, answer.body, CLOSE_AFTER.has(answer.code));
    }
    const seconds = (performance.now() - started) / 1000;
    const known = findTenant(config, tenant) !== undefined;
    const tenantLabel = known ? tenant : UNKNOWN_TENANT_LABEL;
    metrics.callbacks.inc({ tenant: tenantLabel, provider: vendor.provider, outcome });
    if (span) endCallbackSpan(span, { tenant: tenantLabel, status, outcome, errorCode, eventId: log.eventId });
    metrics.ackSeconds.observe({ provider: vendor.provider }, seconds);
    const line = {
      tenant,
      provider: vendor.provider,
      eventId: log.eventId,
      userId: log.userId,
      operationId: log.operationId,
      outcome,
      hold: log.hold,
      status,
      durationMs: Math.round(seconds * 1e4) / 10,
    };
    if (unexpected) logger.error({ ...line, err }, "callback failed inside imrelay");
    else if (status >= 500) {
      const cause = (err as Error).cause;
      logger.warn(
        { ...line, reason: (err as Error).message, cause: cause instanceof Error ? cause.message : undefined },
        "callback not confirmed: Redis unavailable",
      );
    } else if (status >= 400) logger.warn({ ...line, reason: (err as Error).message }, "callback refused");
    else logger.info(line, "callback answered");
  };
}
