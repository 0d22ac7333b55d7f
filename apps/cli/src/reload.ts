import {
  ConfigError,
  type ConfigSource,
  configHash,
  type ImrelayConfig,
  loadConfig,
  planReload,
  RELOADABLE_SECTIONS,
} from "@imrelay/config";
import type { Logger } from "pino";
import type { ConfigMetrics } from "./config-metrics.js";

export interface ConfigReloaderOptions {
  logger: Logger;
  /** The config file, as resolved at start-up (a later change of directory does not move it). */
  path: string;
  /** The file's config the process started with (before the command line's changes). */
  initial: ImrelayConfig;
  /** What the gateway and the worker read. */
  source: ConfigSource;
  /** The command line's changes to the file's config (`--port`, a private Redis' URL), applied to every reload too. */
  override: (config: ImrelayConfig) => ImrelayConfig;
  metrics: ConfigMetrics;
  /** @default process.env */
  env?: Record<string, string | undefined>;
}

/**
 * Rereads and validates the config file, then puts its tenants (vendor
 * sections, secrets, rate limits, endpoints) in effect for the callbacks and
 * deliveries that start from then on; callbacks and deliveries already under
 * way finish with the config they started with. An invalid file is logged
 * with every bad field and changes nothing. Never throws: a reload cannot stop
 * the process.
 *
 * @example
 * const reload = configReloader({ logger, path, initial, source, override: (c) => c, metrics });
 * process.on("SIGHUP", reload);
 */
export function configReloader(options: ConfigReloaderOptions): () => void {
  const { logger, path, source, override, metrics } = options;
  let running = options.initial;
  let runningHash = configHash(running);

  return function reload() {
    let next: ImrelayConfig | undefined;
    try {
      next = loadConfig({ path, env: options.env ?? process.env })?.config;
    } catch (err) {
      metrics.reloaded("refused");
      if (err instanceof ConfigError) {
        // A YAML error ends with an excerpt of the file, which may hold a secret written in it: the log
        // gets the reason, line and column only. A schema error names each field and what is wrong with it.
        const reason = err.problems.length > 0 ? err.message : (err.message.split("\n")[0] ?? "").replace(/:$/, "");
        logger.error(
          { config: path, code: err.code, problems: err.problems, config_hash: runningHash },
          `config reload refused, the running config (${runningHash}) stays in effect: ${reason}`,
        );
      } else {
        logger.error({ config: path, err, config_hash: runningHash }, "config reload failed; the running config stays");
      }
      return;
    }
    if (!next) return; // loadConfig answers undefined only for a file not asked for by name, and the path is named.

    const plan = planReload(running, next);
    if (plan.notApplied.length > 0) {
      // Names only: a value here may be a Redis password or the admin token.
      logger.warn(
        { config: path, notApplied: plan.notApplied },
        `config reload: these settings need a restart and keep their running values until then: ${plan.notApplied.join(", ")} (a reload applies: ${RELOADABLE_SECTIONS.join(", ")})`,
      );
    }
    const previousHash = runningHash;
    running = plan.config;
    runningHash = configHash(running);
    source.set(override(running));
    metrics.live(runningHash);
    metrics.reloaded("applied");
    const tenants = Object.values(running.tenants);
    logger.info(
      {
        config: path,
        config_hash: runningHash,
        previous_hash: previousHash,
        tenants: tenants.length,
        endpoints: tenants.reduce((n, tenant) => n + tenant.endpoints.length, 0),
        ...plan.changes,
      },
      plan.unchanged ? "config reloaded: tenants and endpoints unchanged" : "config reloaded",
    );
  };
}

/**
 * Listens for SIGHUP from now on, so one during start-up does not end the
 * process (Node's default for SIGHUP), and reloads once `use` gives it a reloader.
 *
 * @example
 * const hangup = listenForHangup({ logger, stopping: () => lifecycle.stopping });
 * hangup.use(configReloader({ … }));
 * await lifecycle.stopped;
 * hangup.close();
 */
export function listenForHangup({ logger, stopping }: { logger: Logger; stopping: () => boolean }) {
  let reload: (() => void) | "no-file" | undefined;
  const onHangup = () => {
    if (stopping()) logger.warn("SIGHUP during shutdown: not reloading the config");
    else if (reload === "no-file")
      logger.warn("SIGHUP: no config file (running the demo tenant), nothing to reload; restart with a config file");
    else if (!reload) logger.warn("SIGHUP during start-up: not reloading the config; send it again once imrelay runs");
    else {
      try {
        reload();
      } catch (err) {
        // A signal handler that throws would end the process: a failed reload must not.
        logger.error({ err }, "config reload failed; the running config stays");
      }
    }
  };
  process.on("SIGHUP", onHangup);
  return {
    /** What a SIGHUP does from now on: reload, or say there is no file to reload (the demo). */
    use(next: (() => void) | "no-file") {
      reload = next;
    },
    close: () => process.off("SIGHUP", onHangup),
  };
}
