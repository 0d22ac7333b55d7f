import { performance } from "node:perf_hooks";
import type { ImrelayConfig, RedisKeys, TenantConfig } from "@imrelay/config";
import { CallbackError, headerValue, isoTime } from "@imrelay/core";
import type { Request, RequestHandler, Response } from "express";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { isJsonContentType } from "../http/content-type.js";
import { type IpAllowList, ipAllowList } from "../http/ip-allow.js";
import type { RateLimiter } from "../http/rate-limit.js";
import { readRawBody } from "../http/raw-body.js";
import type { Ingest, IngestOutcome } from "../ingest/ingest.js";
import type { GatewayMetrics } from "../metrics.js";
import { errorToAnswer } from "./errors-to-answer.js";
import { keepUnrecognized, parsedBody, withoutSecrets } from "./unrecognized.js";
import type { Vendor, VendorResult } from "./vendor.js";

export interface CallbackContext {
  config: ImrelayConfig;
  redis: Redis;
  keys: RedisKeys;
  ingest: Ingest;
  clock: () => number;
  logger: Logger;
  metrics: GatewayMetrics;
  rateLimit: RateLimiter;
}

/** The label of callbacks for tenants that do not exist: a caller must not be able to mint label values. */
const UNKNOWN_TENANT_LABEL = "_unknown";

type CallbackOutcome = IngestOutcome | "unrecognized" | "ignored";

function tenantConfig(config: ImrelayConfig, name: string): TenantConfig | undefined {
  return Object.hasOwn(config.tenants, name) ? config.tenants[name] : undefined;
}

/**
 * The route handler of one vendor's callback URL. Checks run cheapest first
 * (tenant, source address, rate, content type, size) so a flood is refused
 * before its body is read; the answer is OK only once Redis has the event.
 *
 * @example
 * app.post("/v1/tenants/:tenant/tencent", callbackHandler(tencentVendor, ctx));
 */
export function callbackHandler(vendor: Vendor, ctx: CallbackContext): RequestHandler {
  const { config, keys, redis, ingest, clock, logger, metrics, rateLimit } = ctx;
  const allowLists = new Map<string, IpAllowList | undefined>();
  for (const [name, tenant] of Object.entries(config.tenants)) {
    allowLists.set(name, ipAllowList(vendor.section(tenant)?.allowIps));
  }
  const includeRaw = new Set(
    Object.entries(config.tenants)
      .filter(([, tenant]) => tenant.endpoints.some((endpoint) => endpoint.includeRaw))
      .map(([name]) => name),
  );

  async function accept(
    req: Request,
    tenant: string,
    log: { eventId?: string; userId?: string; operationId?: string },
  ) {
    const settings = tenantConfig(config, tenant);
    if (!settings || !vendor.section(settings)) {
      throw new CallbackError("UNKNOWN_TENANT", `no tenant "${tenant}" with a ${vendor.provider} section`);
    }
    const allowed = allowLists.get(tenant);
    if (allowed && !allowed(req.ip)) {
      throw new CallbackError("IP_NOT_ALLOWED", `address ${req.ip ?? "(unknown)"} is not in the tenant's allowIps`);
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
    const body = await readRawBody(req, config.gateway.bodyLimitBytes);
    const query = req.query as Record<string, unknown>;
    const now = clock();
    const result: VendorResult = vendor.handle(
      { body, query, headers: req.headers, path: req.path },
      tenant,
      settings,
      now,
    );
    if (result.operationId !== undefined) log.operationId = result.operationId;

    if (result.unrecognized) {
      await keepUnrecognized(
        { redis, keys },
        {
          tenant,
          provider: vendor.provider,
          reason: result.unrecognizedReason ?? "unrecognized",
          receivedAt: isoTime(now),
          body: parsedBody(body),
          query,
        },
      );
      metrics.unrecognized.inc({ tenant, provider: vendor.provider });
      return { outcome: "unrecognized" as CallbackOutcome, response: result.response };
    }

    let outcome: CallbackOutcome = "ignored";
    const raw = includeRaw.has(tenant) ? { body: parsedBody(body), query: withoutSecrets(query) } : undefined;
    for (const event of result.events) {
      const ingested = await ingest(event, raw ? { raw } : {});
      if (outcome === "ignored") {
        outcome = ingested.outcome;
        log.eventId = event.id;
        log.userId = event.userId;
      }
      if (ingested.outcome === "renewal") metrics.renewalsSuppressed.inc({ tenant });
    }
    return { outcome, response: result.response };
  }

  return async (req: Request, res: Response) => {
    const started = performance.now();
    const tenant = String(req.params.tenant ?? "");
    const log: { eventId?: string; userId?: string; operationId?: string } = {};
    let status = 200;
    let outcome: string;
    let err: unknown;
    let unexpected = false;
    try {
      const accepted = await accept(req, tenant, log);
      outcome = accepted.outcome;
      res.status(200).json(accepted.response);
    } catch (caught) {
      err = caught;
      const answer = errorToAnswer(caught, vendor);
      status = answer.status;
      outcome = answer.code.toLowerCase();
      unexpected = answer.unexpected;
      // A body left unread must not be parsed as the next request on this connection.
      if (answer.code === "PAYLOAD_TOO_LARGE") res.setHeader("connection", "close");
      res.status(status).json(answer.body);
    }
    const seconds = (performance.now() - started) / 1000;
    const known = tenantConfig(config, tenant) !== undefined;
    metrics.callbacks.inc({ tenant: known ? tenant : UNKNOWN_TENANT_LABEL, provider: vendor.provider, outcome });
    metrics.ackSeconds.observe({ provider: vendor.provider }, seconds);
    const line = {
      tenant,
      provider: vendor.provider,
      eventId: log.eventId,
      userId: log.userId,
      operationId: log.operationId,
      outcome,
      status,
      durationMs: Math.round(seconds * 1e4) / 10,
    };
    if (unexpected) logger.error({ ...line, err }, "callback failed inside imrelay");
    else if (status >= 500) {
      const cause = (err as Error).cause;
      logger.warn(
        { ...line, cause: cause instanceof Error ? cause.message : undefined },
        "callback not taken: Redis unavailable",
      );
    } else if (status >= 400) logger.warn({ ...line, reason: (err as Error).message }, "callback refused");
    else logger.info(line, "callback answered");
  };
}
