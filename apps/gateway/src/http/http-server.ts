import { createServer, type Server } from "node:http";
import type { ImrelayConfig } from "@imrelay/config";
import type { Logger } from "pino";
import type { GatewayListener } from "../server.js";
import { MAX_HEADER_BYTES } from "./client-error.js";

export interface GatewayHttpServerOptions {
  gateway: ImrelayConfig["gateway"];
  logger: Logger;
  /** Told of every connection dropped at the cap (for a metric). */
  onDrop?(): void;
  /**
   * How long without a dropped connection ends a burst (and logs how many were dropped).
   * @default 10000
   */
  burstQuietMs?: number;
}

/**
 * The `node:http` server the gateway listens with, its limits set so a few
 * slow or idle clients cannot hold it: headers and body must arrive within
 * `requestTimeoutMs` (`headersTimeoutMs` for the head), an idle keep-alive
 * connection closes after `keepAliveTimeoutMs`, request heads are capped at
 * 16 KiB, and connections over `maxConnections` are dropped. Node's own
 * answers to these are replaced by the listener's `clientError`, which
 * speaks the route's envelope.
 *
 * @example
 * const server = createGatewayHttpServer(createServer(deps), { gateway: config.gateway, logger });
 * server.listen(config.gateway.port, config.gateway.host);
 */
export function createGatewayHttpServer(listener: GatewayListener, options: GatewayHttpServerOptions): Server {
  const { gateway, logger } = options;
  const server = createServer(
    {
      requestTimeout: gateway.requestTimeoutMs,
      headersTimeout: gateway.headersTimeoutMs ?? gateway.requestTimeoutMs,
      // Node looks for late requests on this beat (30 s by default): keep a 408 close to its deadline.
      connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(gateway.requestTimeoutMs / 10))),
      // Node's default, but also set by `--max-http-header-size`: fixed here so the README's limit holds.
      maxHeaderSize: MAX_HEADER_BYTES,
    },
    listener,
  );
  server.keepAliveTimeout = gateway.keepAliveTimeoutMs;
  server.maxConnections = gateway.maxConnections;
  server.on("clientError", listener.clientError);
  server.on("drop", connectionLimitLog(logger, gateway.maxConnections, options.burstQuietMs ?? 10_000, options.onDrop));
  return server;
}

/**
 * The server's `drop` listener: one warning when the connection cap starts
 * dropping, one line with the count when a burst is over, never a line per
 * connection (a flood would flood the log too).
 */
function connectionLimitLog(logger: Logger, maxConnections: number, quietMs: number, onDrop: (() => void) | undefined) {
  let dropped = 0;
  let quiet: NodeJS.Timeout | undefined;
  return () => {
    onDrop?.();
    dropped += 1;
    if (quiet) {
      quiet.refresh();
      return;
    }
    logger.warn(
      { maxConnections },
      `connection limit of ${maxConnections} reached: new connections are dropped until some close (gateway.maxConnections)`,
    );
    quiet = setTimeout(() => {
      logger.info({ dropped, maxConnections }, `connection limit burst over: ${dropped} connections were dropped`);
      dropped = 0;
      quiet = undefined;
    }, quietMs);
    quiet.unref();
  };
}
