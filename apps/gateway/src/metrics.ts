import { Counter, Histogram, type Registry } from "prom-client";

/** The gateway's metrics (docs/architecture.md, "Metrics"). */
export interface GatewayMetrics {
  callbacks: Counter<"tenant" | "provider" | "outcome">;
  ackSeconds: Histogram<"provider">;
  unrecognized: Counter<"tenant" | "provider">;
  renewalsSuppressed: Counter<"tenant">;
  presenceExpired: Counter<"tenant">;
  offlineHolds: Counter<"tenant" | "outcome">;
  vendorClockClamped: Counter<"tenant" | "provider">;
  httpRefusals: Counter<"code">;
  connectionsDropped: Counter;
}

/** Returns the metric already in the registry, or registers it: gateway and worker may share one registry. */
function once<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

/**
 * Registers (once per registry) and returns the gateway's metrics.
 *
 * @example
 * const metrics = gatewayMetrics(registry);
 * metrics.callbacks.inc({ tenant: "acme", provider: "tencent", outcome: "queued" });
 */
export function gatewayMetrics(registry: Registry): GatewayMetrics {
  const registers = [registry];
  return {
    callbacks: once(
      registry,
      "imrelay_callbacks_total",
      () =>
        new Counter({
          name: "imrelay_callbacks_total",
          help: "Vendor callbacks answered, by outcome (queued, duplicate, renewal, unrecognized, or an error code)",
          labelNames: ["tenant", "provider", "outcome"] as const,
          registers,
        }),
    ),
    ackSeconds: once(
      registry,
      "imrelay_callback_ack_seconds",
      () =>
        new Histogram({
          name: "imrelay_callback_ack_seconds",
          help: "Time from a callback's arrival to its answer",
          labelNames: ["provider"] as const,
          buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
          registers,
        }),
    ),
    unrecognized: once(
      registry,
      "imrelay_unrecognized_callbacks_total",
      () =>
        new Counter({
          name: "imrelay_unrecognized_callbacks_total",
          help: "Authentic callbacks nothing maps (kept in the unrecognized list, never delivered)",
          labelNames: ["tenant", "provider"] as const,
          registers,
        }),
    ),
    renewalsSuppressed: once(
      registry,
      "imrelay_renewals_suppressed_total",
      () =>
        new Counter({
          name: "imrelay_renewals_suppressed_total",
          help: "OpenIM online re-sends for a platform already online, counted and not delivered",
          labelNames: ["tenant"] as const,
          registers,
        }),
    ),
    presenceExpired: once(
      registry,
      "imrelay_presence_expired_total",
      () =>
        new Counter({
          name: "imrelay_presence_expired_total",
          help: "OpenIM platforms taken offline because no online or renewal came in time",
          labelNames: ["tenant"] as const,
          registers,
        }),
    ),
    offlineHolds: once(
      registry,
      "imrelay_offline_holds_total",
      () =>
        new Counter({
          name: "imrelay_offline_holds_total",
          help: "Offlines held for presence.offlineGrace (held), let go with changed: false because the user came back (cancelled), or with changed: true once the grace was over (released)",
          labelNames: ["tenant", "outcome"] as const,
          registers,
        }),
    ),
    vendorClockClamped: once(
      registry,
      "imrelay_vendor_clock_clamped_total",
      () =>
        new Counter({
          name: "imrelay_vendor_clock_clamped_total",
          help: "Vendor times more than presence.maxClockSkew ahead of the gateway's clock, taken as the gateway's clock",
          labelNames: ["tenant", "provider"] as const,
          registers,
        }),
    ),
    httpRefusals: once(
      registry,
      "imrelay_http_refusals_total",
      () =>
        new Counter({
          name: "imrelay_http_refusals_total",
          help: "Requests refused at the HTTP server's limits, by code (request_timeout, headers_too_large, malformed_http); callbacks among them are in imrelay_callbacks_total too",
          labelNames: ["code"] as const,
          registers,
        }),
    ),
    connectionsDropped: once(
      registry,
      "imrelay_connections_dropped_total",
      () =>
        new Counter({
          name: "imrelay_connections_dropped_total",
          help: "Connections dropped because gateway.maxConnections were open",
          registers,
        }),
    ),
  };
}
