/** A receiver cannot hold a delivery back longer than this. */
export const MAX_RETRY_AFTER_MS = 24 * 60 * 60 * 1000;

/**
 * The delay a `Retry-After` header asks for: delta-seconds or an HTTP date
 * (RFC 9110 §10.2.3), capped at 24 h. Undefined when absent or unreadable.
 *
 * @example
 * parseRetryAfter("120", Date.now()) // 120000
 * parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", Date.now()) // 0 (in the past)
 */
export function parseRetryAfter(value: string | string[] | undefined, now: number): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, MAX_RETRY_AFTER_MS);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, at - now), MAX_RETRY_AFTER_MS);
}
