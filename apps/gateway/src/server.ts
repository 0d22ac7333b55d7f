import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { ImrelayConfig } from "@imrelay/config";
import { findTenant } from "@imrelay/config";
import type { Ingest, RedisClient, RedisKeys } from "@imrelay/store";
import type { Tracer } from "@opentelemetry/api";
import express, { type ErrorRequestHandler, type Express } from "express";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { adminError } from "./admin/auth.js";
import { type MountAdmin, mountAdminRoutes } from "./admin/routes.js";
import { isStoreUnavailable, STORE_UNAVAILABLE_MESSAGE } from "./admin/store-guard.js";
import {
  type CallbackContext,
  type CallbackHandler,
  callbackHandler,
  UNKNOWN_TENANT_LABEL,
} from "./callbacks/handler.js";
import { findVendor, GATEWAY_VENDORS, type Vendor } from "./callbacks/vendor.js";
import { callbackRouteMatcher, clientAddress } from "./http/callback-route.js";
import type { ClientError } from "./http/client-error.js";
import { inFlightRequests } from "./http/in-flight.js";
import { createRateLimiter } from "./http/rate-limit.js";
import { createGatewayIngest } from "./ingest.js";
import { GATEWAY_REDACT_PATHS } from "./logging.js";
import { type GatewayMetrics, gatewayMetrics } from "./metrics.js";
import { redisReadiness } from "./readiness.js";

/** Everything the gateway's HTTP server uses, passed in. */
export interface GatewayDeps {
  config: ImrelayConfig;
  /** The ingest connection; should fail fast (`createIngestRedis`). Also used for presence reads and readyz. */
  redis: RedisClient;
  keys: RedisKeys;
  logger: Logger;
  registry: Registry;
  /** ms since the epoch. @default Date.now */
  clock?: () => number;
  /** The vendors served. @default the registry's (`@imrelay/vendors`) */
  vendors?: readonly Vendor[];
  /** @default createGatewayIngest({ redis, keys, config, vendors }) */
  ingest?: Ingest;
  /** @default gatewayMetrics(registry) */
  metrics?: GatewayMetrics;
  /** More admin routes (dead letters, queue dashboard), mounted after the built-in ones. */
  mountAdmin?: MountAdmin;
  /** Traces callbacks and their enqueue (README "Tracing"). @default none: no spans, no cost */
  tracer?: Tracer | undefined;
}

/**
 * The gateway as a `node:http` request listener: vendor callbacks on a
 * router-free fast path, everything else (health, metrics, admin) on Express.
 */
export type GatewayListener = ((req: IncomingMessage, res: ServerResponse) => void) & {
  /** The Express app behind the non-callback routes. */
  app: Express;
  /**
   * The server's `clientError` listener: answers what Node refuses itself
   * (its request timeout, oversized headers, malformed HTTP) in the route's
   * envelope, where Node would send an empty body.
   */
  clientError: (err: ClientError, socket: Socket) => void;
  /**
   * Stops taking callbacks, for a shutdown: from now on a callback is answered
   * 503 in its vendor's envelope (and its connection closed), readyz says 503,
   * and requests already being handled finish.
   */
  drain(): void;
  /** Requests being handled right now. */
  inFlight(): number;
};

/** What a vendor reads when it calls a gateway that is stopping. */
const SHUTTING_DOWN_MESSAGE = "imrelay is shutting down; send the callback again";

/** How long readyz waits for Redis to answer. */
const READY_TIMEOUT_MS = 500;

/**
 * The gateway's HTTP handling: vendor callback routes, health, metrics and
 * the admin API. No listening, no timers: `startGateway` does that.
 *
 * @example
 * const listener = createServer({ config, redis: createIngestRedis(config.redis), keys: redisKeys(config.redis.prefix, config.redis.partitions), logger, registry });
 * http.createServer(listener).listen(8080);
 */
export function createServer(deps: GatewayDeps): GatewayListener {
  const { config, redis, keys, registry } = deps;
  const clock = deps.clock ?? Date.now;
  const logger = deps.logger.child(
    { component: "gateway" },
    { redact: { paths: GATEWAY_REDACT_PATHS, censor: "[redacted]" } },
  );
  const metrics = deps.metrics ?? gatewayMetrics(registry);
  const vendors = deps.vendors ?? GATEWAY_VENDORS;
  const ingest = deps.ingest ?? createGatewayIngest({ redis, keys, config, vendors });

  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", config.gateway.trustProxy);

  const ctx: CallbackContext = {
    config,
    redis,
    keys,
    ingest,
    clock,
    logger,
    metrics,
    rateLimit: createRateLimiter(clock),
    clientIp: clientAddress(config.gateway.trustProxy),
    tracer: deps.tracer,
  };
  const callbacks = new Map<string, CallbackHandler>(
    vendors.map((vendor) => [vendor.provider, callbackHandler(vendor, ctx)]),
  );
  const matchCallbackRoute = callbackRouteMatcher(vendors);
  const requests = inFlightRequests({
    matchRoute: matchCallbackRoute,
    envelope: (route, refusal) =>
      route
        ? (findVendor(route.provider, vendors)?.fail(refusal) ?? {
            error: { code: refusal.code, message: refusal.message },
          })
        : { error: { code: refusal.code, message: refusal.message } },
    requestTimeoutMs: config.gateway.requestTimeoutMs,
    headersTimeoutMs: config.gateway.headersTimeoutMs ?? config.gateway.requestTimeoutMs,
    onRefusal: (refusal) => metrics.httpRefusals.inc({ code: refusal.code.toLowerCase() }),
  });

  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  let draining = false;
  let inFlight = 0;

  app.get("/readyz", async (_req, res) => {
    if (draining) {
      res.status(503).json({ status: "shutting_down" });
      return;
    }
    const { ready, reason } = await redisReadiness(redis, READY_TIMEOUT_MS);
    res.status(ready ? 200 : 503).json(ready ? { status: "ok" } : { status: "unavailable", redis: reason });
  });
  app.get("/metrics", async (_req, res) => {
    res.setHeader("content-type", registry.contentType);
    res.send(await registry.metrics());
  });

  mountAdminRoutes(app, { config, redis, keys }, deps.mountAdmin);

  app.use((req, res) => {
    adminError(res, 404, "NOT_FOUND", `no route ${req.method} ${req.path}`);
  });
  const onError: ErrorRequestHandler = (err, req, res, _next) => {
    if (isStoreUnavailable(err)) {
      logger.warn(
        { method: req.method, path: req.path, cause: err.message },
        "admin request failed: Redis unavailable",
      );
      if (!res.headersSent) adminError(res, 503, "STORE_UNAVAILABLE", STORE_UNAVAILABLE_MESSAGE);
      return;
    }
    const status = typeof err?.status === "number" && err.status >= 400 && err.status < 500 ? err.status : 500;
    if (status === 500) logger.error({ err, method: req.method, path: req.path }, "request failed inside imrelay");
    if (res.headersSent) return;
    adminError(
      res,
      status,
      status === 500 ? "INTERNAL" : "INVALID_REQUEST",
      status === 500 ? "an unexpected error inside imrelay; it was logged" : String(err.message ?? "invalid request"),
    );
  };
  app.use(onError);

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    inFlight++;
    res.once("close", () => inFlight--);
    // A keep-alive caller learns to reconnect (to another gateway) rather than reuse this connection.
    if (draining) res.setHeader("connection", "close");
    const route = matchCallbackRoute(req);
    const stopped = requests.track(req, res, route);
    if (!route) {
      app(req, res);
      return;
    }
    const provider = route.provider;
    if (draining) {
      const vendor = findVendor(provider, vendors)!;
      const body = JSON.stringify(vendor.fail({ status: 503, code: "SHUTTING_DOWN", message: SHUTTING_DOWN_MESSAGE }));
      res.writeHead(503, {
        "content-type": "application/json; charset=utf-8",
        "content-length": Buffer.byteLength(body),
      });
      res.end(body);
      const tenant = findTenant(config, route.tenant) === undefined ? UNKNOWN_TENANT_LABEL : route.tenant;
      metrics.callbacks.inc({ tenant, provider, outcome: "shutting_down" });
      logger.warn(
        { tenant: route.tenant, provider, outcome: "shutting_down", status: 503 },
        "callback refused: shutting down",
      );
      return;
    }
    callbacks.get(provider)!(req, res, route, stopped).catch((err: unknown) => {
      // The handler answers every fault itself; this is only for a throw past it.
      logger.error({ err }, "callback handler failed");
      if (!res.headersSent) res.writeHead(500).end();
    });
  };
  return Object.assign(listener, {
    app,
    clientError: requests.clientError,
    drain: () => {
      draining = true;
    },
    inFlight: () => inFlight,
  });
}
