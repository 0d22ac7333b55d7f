import type { IngestEvent } from "./fan-out.js";

/** A stream entry as Redis returns it; fields are null for an entry deleted while pending. */
export type StreamEntry = [id: string, fields: string[] | null];

export type ParsedEntry =
  | { ok: true; event: IngestEvent; raw: unknown }
  | {
      ok: false;
      reason: "deleted" | "no event field" | "event is not JSON" | "event lacks id, type, tenant or occurredAt";
    };

/**
 * Reads an ingest entry's `e` (the event JSON) and `r` (the vendor's raw
 * `{body, query}` JSON, optional). Only what fan-out and delivery rely on is
 * checked: the gateway validated the event when it wrote it.
 *
 * @example
 * parseIngestEntry(["1-0", ["e", JSON.stringify(event)]]) // { ok: true, event, raw: undefined }
 */
export function parseIngestEntry([, fields]: StreamEntry): ParsedEntry {
  if (!fields) return { ok: false, reason: "deleted" };
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i]!, fields[i + 1]!);
  const text = map.get("e");
  if (text === undefined) return { ok: false, reason: "no event field" };
  let event: unknown;
  try {
    event = JSON.parse(text);
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
  const rawText = map.get("r");
  if (rawText !== undefined) {
    try {
      raw = JSON.parse(rawText);
    } catch {
      // The event is still deliverable; only its raw copy is lost.
      raw = undefined;
    }
  }
  return { ok: true, event: event as IngestEvent, raw };
}
