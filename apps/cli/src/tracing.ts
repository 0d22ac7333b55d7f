import { readFileSync } from "node:fs";
import { type DiagLogger, DiagLogLevel, diag, propagation, type Tracer } from "@opentelemetry/api";
import {
  diagLogLevelFromString,
  loggingErrorHandler,
  setGlobalErrorHandler,
  W3CTraceContextPropagator,
} from "@opentelemetry/core";
import { OTLPTraceExporter as OtlpJsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as OtlpProtobufExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { Logger } from "pino";

/** The OTLP protocols imrelay exports with (no gRPC: it would bring a second HTTP stack for one exporter). */
export type TracingProtocol = "http/protobuf" | "http/json";

/** Whether tracing is on, read from the standard `OTEL_*` variables, and why. */
export type TracingSettings =
  | {
      on: true;
      protocol: TracingProtocol;
      /** Where spans go, for the log: no credentials, no query. */
      endpoint: string;
    }
  | {
      on: false;
      /** Why it is off, for the log. */
      reason: string;
      /** Set when a variable asked for tracing that imrelay cannot do: worth a warning. */
      problem?: string;
    };

/** The OTLP/HTTP default when `OTEL_TRACES_EXPORTER=otlp` names no endpoint (the spec's). */
const DEFAULT_TRACES_ENDPOINT = "http://localhost:4318/v1/traces";

/** How long stopping waits for the last spans to be exported. */
const SHUTDOWN_TIMEOUT_MS = 3000;

/** A collector that is down fails every export: say so once per this, with a count, not once per batch. */
const EXPORT_FAILURE_REPORT_MS = 30_000;

/** The CLI's version, for the resource and the tracer (package.json ships in the tarball). */
const VERSION: string = (() => {
  try {
    return JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version ?? "unknown";
  } catch {
    return "unknown";
  }
})();

const text = (value: string | undefined) => value?.trim() || undefined;

/**
 * The rule (README "Tracing"): tracing is off unless an OTLP endpoint is set
 * (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`) or
 * `OTEL_TRACES_EXPORTER` names `otlp`; and it stays off when
 * `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`. Unlike an SDK's
 * own default (`otlp` to localhost), nothing is sent unless asked for.
 *
 * @example
 * tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" });
 * // { on: true, protocol: "http/protobuf", endpoint: "http://collector:4318/v1/traces" }
 */
export function tracingSettings(env: NodeJS.ProcessEnv): TracingSettings {
  if (text(env.OTEL_SDK_DISABLED)?.toLowerCase() === "true") return { on: false, reason: "OTEL_SDK_DISABLED is true" };
  const exporters = (env.OTEL_TRACES_EXPORTER ?? "")
    .split(",")
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  if (exporters.includes("none")) return { on: false, reason: "OTEL_TRACES_EXPORTER is none" };
  const tracesEndpoint = text(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  const baseEndpoint = text(env.OTEL_EXPORTER_OTLP_ENDPOINT);
  if (exporters.length > 0 && !exporters.includes("otlp")) {
    return {
      on: false,
      reason: "OTEL_TRACES_EXPORTER names no exporter imrelay has",
      problem: `OTEL_TRACES_EXPORTER "${exporters.join(",")}" is not supported: imrelay exports OTLP only (otlp)`,
    };
  }
  if (exporters.length === 0 && !tracesEndpoint && !baseEndpoint) {
    return { on: false, reason: "no OTLP endpoint set (OTEL_EXPORTER_OTLP_ENDPOINT)" };
  }
  const protocol =
    text(env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) ?? text(env.OTEL_EXPORTER_OTLP_PROTOCOL) ?? "http/protobuf";
  if (protocol !== "http/protobuf" && protocol !== "http/json") {
    return {
      on: false,
      reason: `OTLP protocol ${protocol} is not supported`,
      problem: `OTLP protocol "${protocol.slice(0, 40)}" is not supported: set OTEL_EXPORTER_OTLP_PROTOCOL to http/protobuf or http/json`,
    };
  }
  // The same precedence the exporter applies: the traces URL as is, else the base URL + /v1/traces.
  const endpoint = tracesEndpoint ?? (baseEndpoint ? `${baseEndpoint.replace(/\/+$/, "")}/v1/traces` : undefined);
  return { on: true, protocol, endpoint: redactEndpoint(endpoint ?? DEFAULT_TRACES_ENDPOINT) };
}

/** An endpoint for the log: credentials and query (where tokens hide) left out. */
function redactEndpoint(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "(not a URL)";
  }
}

export interface Tracing {
  /** The tracer to pass to the gateway and the worker; undefined while tracing is off. */
  tracer: Tracer | undefined;
  /** Exports the spans still buffered and stops; waits at most 3 s, never throws. */
  shutdown(): Promise<void>;
}

const OFF: Tracing = { tracer: undefined, shutdown: async () => {} };

/**
 * Starts tracing when the `OTEL_*` variables ask for it (`tracingSettings`):
 * an OTLP/HTTP exporter behind a batch processor, and the W3C trace-context
 * propagator the gateway and worker carry `traceparent` with. When off,
 * nothing is created: no exporter, no timer, and the apps get no tracer.
 * The exporter, batch processor, sampler and resource read their own
 * standard variables (`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_BSP_*`,
 * `OTEL_TRACES_SAMPLER`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, …)
 * from `process.env`.
 *
 * @example
 * const tracing = startTracing(process.env, logger);
 * const gateway = await startGateway({ config, logger, registry, tracer: tracing.tracer });
 * // on stop: await gateway.close(); await tracing.shutdown();
 */
export function startTracing(env: NodeJS.ProcessEnv, logger: Logger): Tracing {
  const settings = tracingSettings(env);
  if (!settings.on) {
    if (settings.problem) logger.warn({ reason: settings.problem }, "tracing off");
    else logger.debug({ reason: settings.reason }, "tracing off");
    return OFF;
  }
  const log = logger.child({ component: "tracing" });
  diag.setLogger(diagToPino(log), {
    logLevel: diagLogLevelFromString(env.OTEL_LOG_LEVEL) ?? DiagLogLevel.WARN,
    suppressOverrideMessage: true,
  });
  let provider: BasicTracerProvider;
  try {
    const exporter = settings.protocol === "http/json" ? new OtlpJsonExporter() : new OtlpProtobufExporter();
    // The defaults first: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override them.
    const resource = resourceFromAttributes({ "service.name": "imrelay", "service.version": VERSION }).merge(
      detectResources({ detectors: [envDetector] }),
    );
    provider = new BasicTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(exporter)] });
  } catch (err) {
    // A bad variable must not stop the relay: it runs untraced and says why.
    log.warn({ reason: (err as Error).message }, "tracing off: the OTLP exporter could not be set up");
    diag.disable();
    return OFF;
  }
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  setGlobalErrorHandler(exportFailures(log));
  log.info({ protocol: settings.protocol, endpoint: settings.endpoint }, "tracing on: spans are exported over OTLP");

  let stopping: Promise<void> | undefined;
  return {
    tracer: provider.getTracer("imrelay", VERSION),
    shutdown() {
      stopping ??= (async () => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), SHUTDOWN_TIMEOUT_MS);
          timer.unref();
        });
        try {
          const ended = await Promise.race([provider.shutdown().then(() => "done" as const), timeout]);
          if (ended === "timeout")
            log.warn(`tracing: spans not exported within ${SHUTDOWN_TIMEOUT_MS} ms were dropped`);
        } catch (err) {
          log.warn({ reason: (err as Error).message }, "tracing: the last spans could not be exported");
        } finally {
          clearTimeout(timer);
          propagation.disable();
          setGlobalErrorHandler(loggingErrorHandler());
          diag.disable();
        }
      })();
      return stopping;
    },
  };
}

/**
 * Where the SDK reports a failed export (a collector down or refusing):
 * one warning line, then at most one per 30 s with how many more failed.
 * The spans of a failed export are dropped; callbacks and deliveries go on.
 */
export function exportFailures(logger: Logger, clock: () => number = Date.now): (err: unknown) => void {
  let lastReport = -Infinity;
  let unreported = 0;
  return (err) => {
    const now = clock();
    if (now - lastReport < EXPORT_FAILURE_REPORT_MS) {
      unreported++;
      return;
    }
    lastReport = now;
    const reason = err instanceof Error ? err.message : String(err);
    logger.warn(
      { reason: reason.slice(0, 300), ...(unreported > 0 ? { failedSinceLastReport: unreported } : {}) },
      "tracing: spans could not be exported and were dropped",
    );
    unreported = 0;
  };
}

/** OpenTelemetry's own warnings (an export that failed, a bad variable) as the CLI's log lines. */
function diagToPino(logger: Logger): DiagLogger {
  const line =
    (level: "error" | "warn" | "info" | "debug" | "trace") =>
    (message: string, ...args: unknown[]) => {
      const err = args.find((arg): arg is Error => arg instanceof Error);
      logger[level](err ? { reason: err.message } : {}, `opentelemetry: ${message}`);
    };
  return { error: line("error"), warn: line("warn"), info: line("info"), debug: line("debug"), verbose: line("trace") };
}
