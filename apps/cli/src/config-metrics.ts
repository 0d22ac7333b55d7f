import { Counter, Gauge, type Registry } from "prom-client";

export type ReloadOutcome = "applied" | "refused";

export interface ConfigMetrics {
  /** Says which config is in effect: `imrelay_config_info{hash}` is 1 for its hash only. */
  live(hash: string): void;
  reloaded(outcome: ReloadOutcome): void;
}

/**
 * `imrelay_config_info{hash="…"} 1` names the config in effect (the hash of
 * the validated config, as the "config loaded" and "config reloaded" log lines
 * say it), so a fleet's scrape shows which process runs which file;
 * `imrelay_config_reloads_total{outcome}` counts SIGHUP reloads applied and refused.
 *
 * @example
 * const metrics = configMetrics(registry);
 * metrics.live(configHash(config));
 */
export function configMetrics(registry: Registry): ConfigMetrics {
  const info = new Gauge({
    name: "imrelay_config_info",
    help: "The config in effect: 1 for the hash of the validated config (the config_hash of the log), absent for any other",
    labelNames: ["hash"] as const,
    registers: [registry],
  });
  const reloads = new Counter({
    name: "imrelay_config_reloads_total",
    help: "Config reloads on SIGHUP: applied (the new file is in effect) or refused (invalid; the running config stays)",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  for (const outcome of ["applied", "refused"] as const) reloads.inc({ outcome }, 0);
  return {
    live(hash) {
      info.reset();
      info.set({ hash }, 1);
    },
    reloaded: (outcome) => reloads.inc({ outcome }),
  };
}
