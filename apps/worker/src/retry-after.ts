/** The longest wait read from a header; the backoff bounds it further by the retry schedule. */
export const MAX_RETRY_AFTER_MS = 24 * 60 * 60 * 1000;

/**
 * The three HTTP-date forms (RFC 9110 §5.6.7): IMF-fixdate and the obsolete
 * RFC 850 form end in GMT; asctime has no zone and means GMT. `Date.parse`
 * alone reads "2" or "3000" as dates.
 */
const ZONED_DATE = /^[A-Za-z]{3,9}, \d{2}[ -][A-Za-z]{3}[ -]\d{2}(?:\d{2})? \d{2}:\d{2}:\d{2} GMT$/;
const ASCTIME_DATE = /^[A-Za-z]{3} [A-Za-z]{3} [ \d]?\d \d{2}:\d{2}:\d{2} \d{4}$/;

function parseHttpDate(text: string): number {
  if (ZONED_DATE.test(text)) return Date.parse(text);
  if (ASCTIME_DATE.test(text)) return Date.parse(`${text} GMT`);
  return Number.NaN;
}

/**
 * The delay a `Retry-After` header asks for: delta-seconds or an HTTP date
 * (RFC 9110 §10.2.3), capped at 24 h. Undefined when absent or unreadable.
 * A date in the past asks for no wait; the backoff still keeps the schedule's step.
 *
 * @example
 * parseRetryAfter("120", Date.now()) // 120000
 * parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", Date.now()) // 0 (in the past)
 */
export function parseRetryAfter(value: string | string[] | undefined, now: number): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, MAX_RETRY_AFTER_MS);
  const at = parseHttpDate(text);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, at - now), MAX_RETRY_AFTER_MS);
}
