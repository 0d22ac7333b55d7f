import type { DeliveryJobData } from "./delivery-job.js";

/** A stream entry as Redis returns it; fields are null for an entry deleted while pending. */
export type StreamEntry = [id: string, fields: string[] | null];

/** An event as read off the ingest stream: only what fan-out and delivery rely on is checked. */
export type IngestEvent = DeliveryJobData["event"] & { tenant: string; changed?: unknown };

export type ParsedEntry =
  | {
      ok: true;
      event: IngestEvent;
      raw: unknown;
      traceparent?: string;
      /** The event's JSON text as `event` was parsed from: a body can be built from it without a stringify. */
      json: string;
      /** The raw copy's JSON text, when it parsed. */
      rawJson?: string;
    }
  | {
      ok: false;
      reason: "deleted" | "no event field" | "event is not JSON" | "event lacks id, type, tenant or occurredAt";
    };

/**
 * The delivered event's JSON: the adapter's event (`e`) with the gateway's
 * fields (`g`: sequence, presence, changed, stale) after it. The one place
 * the two halves meet; both are JSON objects, so joining the text is enough.
 *
 * @example
 * joinEventJson('{"id":"evt_1"}', '{"sequence":1}'); // '{"id":"evt_1","sequence":1}'
 */
export function joinEventJson(eventJson: string, gatewayJson: string | undefined): string {
  if (gatewayJson === undefined || gatewayJson === "{}") return eventJson;
  return eventJson === "{}" ? gatewayJson : `${eventJson.slice(0, -1)},${gatewayJson.slice(1)}`;
}

/**
 * Reads an ingest entry: `e` (the adapter's event JSON), `g` (the gateway's
 * fields, written by lua/ingest.lua), `r` (the vendor's raw `{body, query}`
 * JSON, optional) and `t` (the W3C traceparent of the gateway's enqueue span,
 * only while tracing is on). Only what fan-out and delivery rely on is checked: the
 * gateway validated the event when it wrote it.
 *
 * @example
 * parseIngestEntry(["1-0", ["e", JSON.stringify(event), "g", '{"sequence":1,…}']]) // { ok: true, event, raw: undefined }
 */
export function parseIngestEntry([, fields]: StreamEntry): ParsedEntry {
  if (!fields) return { ok: false, reason: "deleted" };
  let text: string | undefined;
  let gateway: string | undefined;
  let rawText: string | undefined;
  let traceparent: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i];
    if (name === "e") text = fields[i + 1];
    else if (name === "g") gateway = fields[i + 1];
    else if (name === "r") rawText = fields[i + 1];
    else if (name === "t") traceparent = fields[i + 1];
  }
  if (text === undefined) return { ok: false, reason: "no event field" };
  let event: unknown;
  const json = joinEventJson(text, gateway);
  try {
    event = JSON.parse(json);
  } catch {
    return { ok: false, reason: "event is not JSON" };
  }
  const { id, type, tenant, occurredAt } = (event ?? {}) as Record<string, unknown>;
  if (
    typeof event !== "object" ||
    Array.isArray(event) ||
    typeof id !== "string" ||
    typeof type !== "string" ||
    typeof tenant !== "string" ||
    typeof occurredAt !== "string"
  ) {
    return { ok: false, reason: "event lacks id, type, tenant or occurredAt" };
  }
  let raw: unknown;
  if (rawText !== undefined) {
    try {
      raw = JSON.parse(rawText);
    } catch {
      // The event is still deliverable; only its raw copy is lost.
      raw = undefined;
    }
  }
  const parsed = { ok: true as const, event: event as IngestEvent, raw, traceparent, json };
  return raw === undefined ? parsed : { ...parsed, rawJson: rawText! };
}

/**
 * The payload (`{type, timestamp, data}`, as `toPayload` gives) as JSON text,
 * around the event's own JSON text and, for an includeRaw endpoint, its raw copy's.
 *
 * @example
 * payloadJson(event, '{"id":"evt_1",…}'); // '{"type":"user.online","timestamp":"…","data":{"id":"evt_1",…}}'
 */
export function payloadJson(event: { type: string; occurredAt: string }, eventJson: string, rawJson?: string): string {
  const data =
    rawJson === undefined ? eventJson : `${eventJson.slice(0, -1)}${eventJson === "{}" ? "" : ","}"raw":${rawJson}}`;
  return `{"type":${JSON.stringify(event.type)},"timestamp":${JSON.stringify(event.occurredAt)},"data":${data}}`;
}
