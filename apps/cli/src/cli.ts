import { readFileSync } from "node:fs";
import {
  ConfigError,
  configHash,
  createConfigSource,
  DEFAULT_PARTITIONS,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  type ImrelayConfig,
  liveConfig,
  loadConfig,
  parseConfig,
} from "@imrelay/config";
import { startGateway } from "@imrelay/gateway";
import { PartitionCountError, RedisModeError } from "@imrelay/store";
import { VENDORS } from "@imrelay/vendors";
import { startWorker } from "@imrelay/worker";
import { Registry } from "prom-client";
import { type Command, parseCliArgs, USAGE } from "./args.js";
import { configMetrics } from "./config-metrics.js";
import { type DemoSink, demoConfig, startDemoSink } from "./demo.js";
import { createLogger } from "./logger.js";
import { parsePartitionList } from "./partition-list.js";
import { gatewayPart, privateRedisPart, workerPart } from "./parts.js";
import { DEFAULT_REDIS_URL, ensureRedis, type PrivateRedis, RedisUnavailableError } from "./redis-default.js";
import { configReloader, listenForHangup } from "./reload.js";
import { type Lifecycle, signalLifecycle } from "./shutdown.js";
import { startTracing } from "./tracing.js";
import { startWorkerHttp } from "./worker-http.js";

/** The version of the package this CLI ships in (its package.json sits one level above `dist/`). */
export function cliVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

/** Runs the CLI; resolves with the exit code (long-running commands resolve when they stop). */
export async function main(argv: string[]): Promise<number> {
  const args = parseCliArgs(argv);
  if (args.kind === "help") {
    console.log(USAGE);
    return 0;
  }
  if (args.kind === "version") {
    console.log(cliVersion());
    return 0;
  }
  if (args.kind === "usage-error") {
    console.error(`imrelay: ${args.message}\n\n${USAGE}`);
    return 2;
  }

  let loaded: { path: string; config: ImrelayConfig } | undefined;
  try {
    loaded = loadConfig(args.config === undefined ? {} : { path: args.config });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`imrelay: ${err.message}`);
      return 1;
    }
    throw err;
  }

  if (args.command === "check-config") return checkConfig(loaded);
  let partitions: number[] | undefined;
  if (args.partitions !== undefined) {
    if (args.command === "gateway") {
      console.error("imrelay: --partitions is for 'worker' and 'start': a gateway takes callbacks of every partition");
      return 2;
    }
    const count = loaded?.config.redis.partitions ?? DEFAULT_PARTITIONS;
    const parsed = parsePartitionList(args.partitions, count);
    if ("error" in parsed) {
      console.error(`imrelay: ${parsed.error}`);
      return 2;
    }
    partitions = parsed.partitions;
  }
  return run(args.command, loaded, args.port, partitions);
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
        Array.isArray(endpoint.secret) && endpoint.secret.length > 1 && `${endpoint.secret.length} secrets (rotating)`,
        endpoint.filter && `filter ${JSON.stringify(endpoint.filter)}`,
      ]
        .filter(Boolean)
        .join(", ");
      lines.push(`  endpoint ${endpoint.id} → ${redactUrl(endpoint.url)}  (${events}${flags ? `; ${flags}` : ""})`);
    }
    if (tenant.endpoints.length === 0) lines.push("  (no endpoints: events are accepted and not delivered)");
  }
  const d = config.delivery;
  lines.push(
    `delivery: timeout ${d.timeoutMs} ms, ${d.retrySchedule.length} retries, concurrency ${d.concurrency}, private networks ${d.allowPrivateNetworks ? "allowed" : `refused (${d.dnsCacheMs > 0 ? `checked addresses kept ${d.dnsCacheMs} ms` : "DNS asked on every connection"})`}`,
  );
  lines.push(`a dead worker's deliveries are taken over within ${d.lockDuration + d.stalledInterval} ms`);
  lines.push(`SIGTERM/SIGINT: stops within ${config.shutdownTimeoutMs} ms`);
  lines.push(`config hash: ${configHash(config)} (what imrelay_config_info says once this file is in effect)`);
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
): Promise<number> {
  const logger = createLogger();
  // Listening from the start: a signal while Redis or the demo sink is still starting stops it too.
  const timeoutMs = loaded?.config.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
  const lifecycle = signalLifecycle({ logger, timeoutMs });
  const hangup = listenForHangup({ logger, stopping: () => lifecycle.stopping });
  try {
    const started = start(command, loaded, port, partitions, logger, lifecycle, hangup);
    const code = await Promise.race([started, lifecycle.stopped]);
    return await (code ?? lifecycle.stopped);
  } finally {
    hangup.close();
  }
}

/** Starts what the command runs; resolves undefined once running, or an exit code when it cannot start. */
async function start(
  command: Exclude<Command, "check-config">,
  loaded: { path: string; config: ImrelayConfig } | undefined,
  port: number | undefined,
  partitions: number[] | undefined,
  logger: ReturnType<typeof createLogger>,
  lifecycle: Lifecycle,
  hangup: ReturnType<typeof listenForHangup>,
): Promise<number | undefined> {
  let demo: DemoSink | undefined;
  let fileConfig: ImrelayConfig;
  if (loaded) {
    fileConfig = loaded.config;
    // The pid is what `kill -HUP` needs to reload this file.
    logger.info({ config: loaded.path, config_hash: configHash(fileConfig), pid: process.pid }, "config loaded");
  } else {
    if (command !== "start") {
      logger.error(
        "no config file: only 'imrelay start' has a demo mode; create imrelay.config.yaml or set IMRELAY_CONFIG",
      );
      return 1;
    }
    const sink = await startDemoSink(logger);
    demo = sink;
    lifecycle.add({ name: "demo sink", close: () => sink.close(), last: true });
    fileConfig = parseConfig(demoConfig(sink), "demo config");
    logger.info(
      { tenant: "demo", sink: sink.url, config_hash: configHash(fileConfig) },
      "no config file: running the demo tenant with a built-in sink",
    );
  }

  // What the command line changes in the file's config; a reload gets the same changes.
  let privateRedisUrl: string | undefined;
  const override = (from: ImrelayConfig): ImrelayConfig => {
    let out = from;
    if (port !== undefined && command !== "worker") out = { ...out, gateway: { ...out.gateway, port } };
    if (privateRedisUrl !== undefined) out = { ...out, redis: { ...out.redis, url: privateRedisUrl } };
    return out;
  };
  let config = override(fileConfig);

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
    lifecycle.add(privateRedisPart(redis));
    privateRedisUrl = redis.url;
    config = override(fileConfig);
  }

  const registry = new Registry();
  const tracing = startTracing(process.env, logger);
  // Closed with the last parts, after the gateway and the worker: their last spans are exported too.
  lifecycle.add({ name: "tracing", close: () => tracing.shutdown(), last: true });
  // The gateway and the worker read the config through one source, so a reload reaches both at once.
  const source = createConfigSource(config);
  const metrics = configMetrics(registry);
  metrics.live(configHash(fileConfig));
  hangup.use(
    loaded ? configReloader({ logger, path: loaded.path, initial: fileConfig, source, override, metrics }) : "no-file",
  );
  config = liveConfig(source);
  const stops: Array<() => Promise<void>> = [];
  try {
    if ((command === "start" || command === "worker") && !lifecycle.stopping) {
      const worker = await startWorker({
        config,
        logger,
        registry,
        tracer: tracing.tracer,
        ...(partitions ? { partitions } : {}),
      });
      stops.push(() => worker.close());
      lifecycle.add(workerPart(worker, logger));
    }
    if ((command === "start" || command === "gateway") && !lifecycle.stopping) {
      const gateway = await startGateway({
        config,
        logger,
        registry,
        tracer: tracing.tracer,
        // Redis, reached after start-up, holds another layout: stop, and exit 1.
        onFatal: (err) => lifecycle.fail(err.code),
      });
      stops.unshift(() => gateway.close());
      lifecycle.add(gatewayPart(gateway));
      logger.info(
        {
          port: gateway.port,
          prefix: config.redis.prefix,
          redis: config.redis.cluster ? "cluster" : "single node",
          partitions: config.redis.partitions,
        },
        `imrelay ${command} listening on http://${config.gateway.host}:${gateway.port}`,
      );
    } else if (command === "worker" && !lifecycle.stopping) {
      const http = port === undefined ? undefined : await startWorkerHttp(registry, config.gateway.host, port);
      if (http) {
        stops.unshift(() => http.close());
        lifecycle.add({ name: "metrics server", close: () => http.close() });
      }
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
    await tracing.shutdown();
    await redis?.stop();
    await demo?.close();
    return 1;
  }
  return undefined;
}
