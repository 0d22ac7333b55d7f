import type { DeliveryJobData } from "@imrelay/store";
import {
  type Attributes,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
} from "@opentelemetry/api";

/**
 * The span of one delivery attempt (README "Tracing"): a child of the
 * gateway's enqueue span when the job carries its `traceparent`, so the
 * attempts sit in the callback's trace; else the root of a trace of its own
 * (events the gateway made itself, or queued while tracing was off).
 * Attributes name the tenant, provider, endpoint id, attempt, status and
 * outcome: never the URL (it may hold credentials), a secret or a body.
 *
 * @example
 * const span = startDeliverySpan(tracer, job.data, job.attemptsMade + 1);
 */
export function startDeliverySpan(tracer: Tracer, data: DeliveryJobData, attempt: number): Span {
  const parent =
    data.traceparent === undefined
      ? ROOT_CONTEXT
      : propagation.extract(ROOT_CONTEXT, { traceparent: data.traceparent });
  const attributes: Attributes = {
    "http.request.method": "POST",
    "imrelay.tenant": data.tenant,
    "imrelay.endpoint_id": data.endpointId,
    "imrelay.event_id": data.event.id,
    "imrelay.event_type": data.event.type,
    "imrelay.attempt": attempt,
  };
  if (typeof data.event.provider === "string") attributes["imrelay.provider"] = data.event.provider;
  return tracer.startSpan("deliver", { kind: SpanKind.CLIENT, attributes }, parent);
}

/** The endpoint's host and port, never its path, query or credentials. */
export function serverAttributes(url: string): Attributes {
  try {
    const { hostname, port, protocol } = new URL(url);
    return {
      "server.address": hostname,
      "server.port": port ? Number(port) : protocol === "https:" ? 443 : 80,
    };
  } catch {
    return {};
  }
}

/** Ends an attempt's span: OK on 2xx, else failed with the error's UPPER_SNAKE code as `error.type`. */
export function endDeliverySpan(span: Span, err?: unknown): void {
  if (err !== undefined) {
    const code = (err as { code?: unknown }).code;
    const type = typeof code === "string" ? code : "INTERNAL";
    span.setAttribute("error.type", type);
    span.setStatus({ code: SpanStatusCode.ERROR, message: type });
  }
  span.end();
}
