import type { AdapterEvent } from "@imrelay/core";
import type { IngestResult } from "@imrelay/store";
import {
  type Attributes,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";

/**
 * The callback path's spans (README "Tracing"): one SERVER span per callback,
 * the root of its trace, and one PRODUCER span per event it enqueues. Contexts
 * are passed by hand, not through a context manager: nothing here needs
 * async-context tracking, and the callback path must stay as cheap as it was.
 * Attributes name the tenant, provider, event and outcome, never a secret, a
 * body, a query or a user id.
 */

/**
 * Starts the span of one callback. Vendors call from the public internet, so
 * a `traceparent` they send is not followed: every callback starts its own trace.
 *
 * @example
 * const span = startCallbackSpan(tracer, "tencent", "/v1/tenants/{tenant}/tencent");
 */
export function startCallbackSpan(tracer: Tracer, provider: string, route: string): Span {
  return tracer.startSpan(
    `POST ${route}`,
    {
      kind: SpanKind.SERVER,
      attributes: { "http.request.method": "POST", "http.route": route, "imrelay.provider": provider },
    },
    ROOT_CONTEXT,
  );
}

export interface CallbackSpanEnd {
  /** The tenant's name, or `_unknown` when no such tenant is configured (a caller must not mint values). */
  tenant: string;
  status: number;
  /** `queued`, `duplicate`, `renewal`, `unrecognized`, `ignored`, or the refusal's code in lower case. */
  outcome: string;
  /** The refusal's UPPER_SNAKE code. */
  errorCode?: string | undefined;
  eventId?: string | undefined;
}

/** Ends a callback span with its answer; a 5xx marks it failed (a 4xx is the caller's fault, not the server's). */
export function endCallbackSpan(span: Span, end: CallbackSpanEnd): void {
  const attributes: Attributes = {
    "imrelay.tenant": end.tenant,
    "http.response.status_code": end.status,
    "imrelay.outcome": end.outcome,
  };
  if (end.eventId !== undefined) attributes["imrelay.event_id"] = end.eventId;
  if (end.errorCode !== undefined) attributes["error.type"] = end.errorCode;
  span.setAttributes(attributes);
  if (end.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR, message: end.errorCode ?? "INTERNAL" });
  span.end();
}

/**
 * Runs one event's ingest in a PRODUCER span, child of the callback's, and
 * hands `run` that span's W3C `traceparent` (from the global propagator) to
 * store beside the event: the worker's delivery spans are its children.
 *
 * @example
 * const result = await traceEnqueue(tracer, callbackSpan, event, (traceparent) => ingest(event, { traceparent }));
 */
export async function traceEnqueue(
  tracer: Tracer,
  parent: Span,
  event: AdapterEvent,
  run: (traceparent: string | undefined) => Promise<IngestResult>,
): Promise<IngestResult> {
  const span = tracer.startSpan(
    "enqueue",
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        "imrelay.tenant": event.tenant,
        "imrelay.provider": event.provider,
        "imrelay.event_id": event.id,
        "imrelay.event_type": event.type,
      },
    },
    trace.setSpan(ROOT_CONTEXT, parent),
  );
  const carrier: { traceparent?: string } = {};
  propagation.inject(trace.setSpan(ROOT_CONTEXT, span), carrier);
  try {
    const result = await run(carrier.traceparent);
    span.setAttribute("imrelay.outcome", result.outcome);
    return result;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    span.setAttribute("error.type", typeof code === "string" ? code : "INTERNAL");
    span.setStatus({ code: SpanStatusCode.ERROR, message: typeof code === "string" ? code : "INTERNAL" });
    throw err;
  } finally {
    span.end();
  }
}
