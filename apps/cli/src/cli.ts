import { parseArgs } from "node:util";
import { ConfigError, DEFAULT_PARTITIONS, type ImrelayConfig, loadConfig, parseConfig } from "@imrelay/config";
import { startGateway } from "@imrelay/gateway";
import { PartitionCountError, RedisModeError } from "@imrelay/store";
import { VENDORS } from "@imrelay/vendors";
import { startWorker } from "@imrelay/worker";
import type { Logger } from "pino";
import { Registry } from "prom-client";
import { type DemoSink, demoConfig, startDemoSink } from "./demo.js";
import { createLogger } from "./logger.js";
import { parsePartitionList } from "./partition-list.js";
import { DEFAULT_REDIS_URL, ensureRedis, type PrivateRedis, RedisUnavailableError } from "./redis-default.js";
import { startWorkerHttp } from "./worker-http.js";

const USAGE = `Usage: imrelay <command> [--config <file>] [--port <port>] [--partitions <list>]

Commands:
  start          gateway and worker in one process
  gateway        only the gateway (callback routes, presence, admin API)
  worker         only the delivery worker (run as many as you like);
                 with --port it serves /metrics and /healthz on that port
  check-config   validate the config and print what it would run

The config file is --config, else $IMRELAY_CONFIG, else ./imrelay.config.yaml.
With none, 'start' runs a demo tenant whose endpoint is a built-in sink that logs what it receives.
--partitions (worker, start) serves only those partitions, e.g. 0-7 (default: all of them).
REDIS_URL overrides redis.url, REDIS_CLUSTER_NODES (host:port,…) redis.cluster.nodes;
IMRELAY_ADMIN_TOKEN turns the admin API on.`;

type Command = "start" | "gateway" | "worker" | "check-config";
const COMMANDS = new Set<Command>(["start", "gateway", "worker", "check-config"]);

/** Runs the CLI; resolves with the exit code (long-running commands resolve when they stop). */
export async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: "string", short: "c" },
      port: { type: "string", short: "p" },
      partitions: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const command = positionals[0] as Command | undefined;
  if (values.help || !command) {
    console.log(USAGE);
    return command || values.help ? 0 : 2;
  }
  if (!COMMANDS.has(command)) {
    console.error(`imrelay: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }

  let loaded: { path: string; config: ImrelayConfig } | undefined;
  try {
    loaded = loadConfig({ path: values.config });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`imrelay: ${err.message}`);
      return 1;
    }
    throw err;
  }

  if (command === "check-config") return checkConfig(loaded);
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port < 65536)) {
    console.error(`imrelay: --port must be a port number, not "${values.port}"`);
    return 2;
  }
  let partitions: number[] | undefined;
  if (values.partitions !== undefined) {
    if (command === "gateway") {
      console.error("imrelay: --partitions is for 'worker' and 'start': a gateway takes callbacks of every partition");
      return 2;
    }
    const count = loaded?.config.redis.partitions ?? DEFAULT_PARTITIONS;
    const parsed = parsePartitionList(values.partitions, count);
    if ("error" in parsed) {
      console.error(`imrelay: ${parsed.error}`);
      return 2;
    }
    partitions = parsed.partitions;
  }
  return run(command, loaded, port, partitions);
}

function checkConfig(loaded: { path: string; config: ImrelayConfig } | undefined): number {
  if (!loaded) {
    console.log(
      "No config file (./imrelay.config.yaml or $IMRELAY_CONFIG): 'imrelay start' would run the demo tenant.",
    );
    return 0;
  }
  console.log(describeConfig(loaded.path, loaded.config));
  return 0;
}

/** What a config would run, with every secret left out. */
export function describeConfig(path: string, config: ImrelayConfig): string {
  const lines = [`config ${path} is valid`, ...describeRedis(config.redis)];
  lines.push(`gateway: http://${config.gateway.host}:${config.gateway.port}`);
  lines.push(
    `admin API: ${config.admin.token ? "on (bearer token set)" : "off (set IMRELAY_ADMIN_TOKEN to turn it on)"}`,
  );
  for (const [name, tenant] of Object.entries(config.tenants)) {
    lines.push(`tenant ${name}:`);
    for (const vendor of VENDORS) {
      const section = (tenant as Record<string, unknown>)[vendor.provider];
      if (section === undefined) continue;
      const path = `POST /v1/tenants/${name}/${vendor.provider}${vendor.route.commandSegment ? "[/{command}]" : ""}`;
      lines.push(`  ${vendor.provider.padEnd(8)} ${path}  (${(vendor.describe as (s: unknown) => string)(section)})`);
    }
    for (const endpoint of tenant.endpoints) {
      const events = endpoint.events?.join(", ") ?? "all events";
      const flags = [
        endpoint.changesOnly && "changesOnly",
        endpoint.includeRaw && "includeRaw",
        !endpoint.enabled && "disabled",
      ]
        .filter(Boolean)
        .join(", ");
      lines.push(`  endpoint ${endpoint.id} → ${redactUrl(endpoint.url)}  (${events}${flags ? `; ${flags}` : ""})`);
    }
    if (tenant.endpoints.length === 0) lines.push("  (no endpoints: events are accepted and not delivered)");
  }
  const d = config.delivery;
  lines.push(
    `delivery: timeout ${d.timeoutMs} ms, ${d.retrySchedule.length} retries, concurrency ${d.concurrency}, private networks ${d.allowPrivateNetworks ? "allowed" : "refused"}`,
  );
  return lines.join("\n");
}

/** The Redis lines of `check-config`: the mode, where, and the partitions. */
function describeRedis(redis: ImrelayConfig["redis"]): string[] {
  const layout = `${redis.partitions} partitions, prefix "${redis.prefix}"`;
  const acks =
    redis.replicaAcks > 0
      ? `replicaAcks ${redis.replicaAcks}: a callback is answered 200 once ${redis.replicaAcks} replica${redis.replicaAcks > 1 ? "s have" : " has"} its event`
      : "replicaAcks 0: a callback is answered 200 once its master has it";
  if (redis.cluster) {
    return [
      `redis: cluster mode, ${redis.cluster.nodes.length} seed node${redis.cluster.nodes.length > 1 ? "s" : ""}: ${redis.cluster.nodes.map(redactUrl).join(", ")}`,
      `  ${layout}; ${acks}`,
    ];
  }
  return [`redis: single node ${redactUrl(redis.url ?? "")}`, `  ${layout}; ${acks}`];
}

function redactUrl(url: string): string {
  // A bare host:port seed node is not a URL to parse, and holds no secret.
  if (!/^[a-z]+:\/\//i.test(url)) return url;
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    u.search = u.search ? "?…" : "";
    return u.toString();
  } catch {
    return url;
  }
}

async function run(
  command: Exclude<Command, "check-config">,
  loaded: { path: string; config: ImrelayConfig } | undefined,
  port: number | undefined,
  partitions: number[] | undefined,
) {
  const logger = createLogger();
  let demo: DemoSink | undefined;
  let config: ImrelayConfig;
  if (loaded) {
    config = loaded.config;
    logger.info({ config: loaded.path }, "config loaded");
  } else {
    if (command !== "start") {
      logger.error(
        "no config file: only 'imrelay start' has a demo mode; create imrelay.config.yaml or set IMRELAY_CONFIG",
      );
      return 1;
    }
    demo = await startDemoSink(logger);
    config = parseConfig(demoConfig(demo), "demo config");
    logger.info({ tenant: "demo", sink: demo.url }, "no config file: running the demo tenant with a built-in sink");
  }

  if (port !== undefined && command !== "worker") config = { ...config, gateway: { ...config.gateway, port } };

  let redis: PrivateRedis | undefined;
  if (!process.env.REDIS_URL && !config.redis.cluster && config.redis.url === DEFAULT_REDIS_URL) {
    try {
      redis = await ensureRedis(logger);
    } catch (err) {
      if (err instanceof RedisUnavailableError) {
        logger.error(err.message);
        await demo?.close();
        return 1;
      }
      throw err;
    }
    config = { ...config, redis: { ...config.redis, url: redis.url } };
  }

  const registry = new Registry();
  const stops: Array<() => Promise<void>> = [];
  let fatal: (() => void) | undefined;
  const fatalError = new Promise<void>((resolve) => {
    fatal = resolve;
  });
  try {
    if (command === "start" || command === "worker") {
      const worker = await startWorker({ config, logger, registry, ...(partitions ? { partitions } : {}) });
      stops.push(() => worker.close());
    }
    if (command === "start" || command === "gateway") {
      const gateway = await startGateway({ config, logger, registry, onFatal: () => fatal?.() });
      // The gateway stops first, so nothing new is accepted while the worker drains.
      stops.unshift(() => gateway.close());
      logger.info(
        {
          port: gateway.port,
          prefix: config.redis.prefix,
          redis: config.redis.cluster ? "cluster" : "single node",
          partitions: config.redis.partitions,
        },
        `imrelay ${command} listening on http://${config.gateway.host}:${gateway.port}`,
      );
    } else {
      const http = port === undefined ? undefined : await startWorkerHttp(registry, config.gateway.host, port);
      if (http) stops.unshift(() => http.close());
      logger.info(
        {
          concurrency: config.delivery.concurrency,
          partitions: partitions ?? `all ${config.redis.partitions}`,
          ...(http ? { metrics: `http://${config.gateway.host}:${http.port}/metrics` } : {}),
        },
        "imrelay worker running",
      );
    }
  } catch (err) {
    // A refusal the operator must act on is said in its own words; anything else with its stack.
    if (err instanceof PartitionCountError || err instanceof RedisModeError)
      logger.fatal({ code: err.code }, `imrelay refused to start: ${err.message}`);
    else logger.error({ err }, "imrelay failed to start");
    for (const stop of stops) await stop().catch(() => {});
    await redis?.stop();
    await demo?.close();
    return 1;
  }

  return waitForSignal(
    logger,
    async () => {
      for (const stop of stops) await stop();
      await demo?.close();
      await redis?.stop();
    },
    fatalError,
  );
}

/**
 * Resolves with 0 after SIGTERM/SIGINT and a clean shutdown (1 after `fatal`
 * resolves: a refusal found after start-up); a second signal exits at once.
 */
function waitForSignal(logger: Logger, shutdown: () => Promise<void>, fatal: Promise<void>): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    fatal.then(() => {
      if (stopping) return;
      stopping = true;
      shutdown().then(
        () => resolve(1),
        () => resolve(1),
      );
    });
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, "second signal: exiting now");
        process.exit(130);
      }
      stopping = true;
      logger.info({ signal }, "shutting down: finishing in-flight callbacks and deliveries");
      shutdown().then(
        () => {
          logger.info("stopped");
          resolve(0);
        },
        (err) => {
          logger.error({ err }, "shutdown failed");
          resolve(1);
        },
      );
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  });
}
