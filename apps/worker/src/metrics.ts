import { Counter, Histogram, type Registry } from "prom-client";

/** The worker's metrics (docs/architecture.md, "Metrics"). */
export interface WorkerMetrics {
  deliveries: Counter<"tenant" | "endpoint" | "outcome">;
  deliverySeconds: Histogram<"tenant" | "endpoint">;
  eventAgeSeconds: Histogram<"tenant">;
  eventsFiltered: Counter<"tenant" | "endpoint">;
  deliveriesThrottled: Counter<"tenant" | "endpoint">;
}

/** Returns the metric already in the registry, or registers it: gateway and worker may share one registry. */
function once<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

/**
 * Registers (once per registry) and returns the worker's metrics.
 *
 * @example
 * const metrics = workerMetrics(registry);
 * metrics.deliveries.inc({ tenant: "acme", endpoint: "presence", outcome: "2xx" });
 */
export function workerMetrics(registry: Registry): WorkerMetrics {
  const registers = [registry];
  return {
    deliveries: once(
      registry,
      "imrelay_deliveries_total",
      () =>
        new Counter({
          name: "imrelay_deliveries_total",
          help: "Delivery attempts to tenant endpoints, by outcome (2xx, 4xx, 5xx, timeout, refused, error)",
          labelNames: ["tenant", "endpoint", "outcome"] as const,
          registers,
        }),
    ),
    deliverySeconds: once(
      registry,
      "imrelay_delivery_duration_seconds",
      () =>
        new Histogram({
          name: "imrelay_delivery_duration_seconds",
          help: "Time of one delivery attempt, from request to the end of the response",
          labelNames: ["tenant", "endpoint"] as const,
          buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30],
          registers,
        }),
    ),
    eventAgeSeconds: once(
      registry,
      "imrelay_event_age_seconds",
      () =>
        new Histogram({
          name: "imrelay_event_age_seconds",
          help: "Time from an event's occurredAt to its successful delivery",
          labelNames: ["tenant"] as const,
          buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400],
          registers,
        }),
    ),
    eventsFiltered: once(
      registry,
      "imrelay_events_filtered_total",
      () =>
        new Counter({
          name: "imrelay_events_filtered_total",
          help: "Events an endpoint's filter did not match, so not sent to it",
          labelNames: ["tenant", "endpoint"] as const,
          registers,
        }),
    ),
    deliveriesThrottled: once(
      registry,
      "imrelay_deliveries_throttled_total",
      () =>
        new Counter({
          name: "imrelay_deliveries_throttled_total",
          help: "Deliveries an endpoint's rateLimit sent to wait for their turn (in the delayed set, holding no worker slot)",
          labelNames: ["tenant", "endpoint"] as const,
          registers,
        }),
    ),
  };
}
