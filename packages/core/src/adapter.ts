import type { AdapterEvent } from "./event.js";

/** The raw request, as any HTTP framework has it. */
export interface CallbackRequest {
  /** The raw body, exactly as received. */
  body: string | Uint8Array;
  /** Query parameters; repeated names may be arrays (the first value is used). */
  query?: Record<string, unknown>;
  /** Headers; names are matched case-insensitively. */
  headers?: Record<string, unknown>;
}

/** What every adapter's `handleCallback` returns for an accepted callback. */
export interface CallbackResult<Response> {
  /** The normalized events (one per callback; none when unrecognized). */
  events: AdapterEvent[];
  /** True when the callback is authentic but nothing imrelay maps (a new Action, an unknown command). */
  unrecognized: boolean;
  /** The vendor command or action that was not recognized, for metrics and inspection. */
  unrecognizedReason?: string;
  /** The vendor's OK body, to send back with HTTP 200. */
  response: Response;
}

/** First value of a query parameter or header that may be repeated. */
export function firstValue(value: unknown): string | undefined {
  if (Array.isArray(value)) return firstValue(value[0]);
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return undefined;
}

/** Reads a header by name, case-insensitively. */
export function headerValue(headers: Record<string, unknown> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  const direct = firstValue(headers[name]);
  if (direct !== undefined) return direct;
  const lower = name.toLowerCase();
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() === lower) return firstValue(headers[key]);
  }
  return undefined;
}

const decoder = new TextDecoder("utf-8", { fatal: false });

/** The body as text, whatever form it came in. */
export function bodyText(body: string | Uint8Array): string {
  return typeof body === "string" ? body : decoder.decode(body);
}
