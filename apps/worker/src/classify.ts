/** The `outcome` label of `imrelay_deliveries_total` and of the per-attempt log line. */
export type DeliveryOutcome = "2xx" | "4xx" | "5xx" | "timeout" | "refused" | "error";

/**
 * The outcome of an HTTP answer. 1xx/3xx land in `error`: redirects are not
 * followed (a redirect could point anywhere, past the SSRF guard).
 *
 * @example
 * outcomeOfStatus(503) // "5xx"
 */
export function outcomeOfStatus(status: number): DeliveryOutcome {
  if (status >= 200 && status < 300) return "2xx";
  if (status >= 400 && status < 500) return "4xx";
  if (status >= 500 && status < 600) return "5xx";
  return "error";
}

const TIMEOUT_CODES = new Set([
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_CONNECT_TIMEOUT",
  "ETIMEDOUT",
]);

/** Is this request error a timeout (our abort signal, or one of undici's own timers)? */
export function isTimeoutError(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; current && depth < 5; depth++) {
    const { name, code } = current as { name?: unknown; code?: unknown };
    if (name === "TimeoutError" || (typeof code === "string" && TIMEOUT_CODES.has(code))) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** A short system code (`ECONNREFUSED`, `UND_ERR_SOCKET`) for logs and `lastResponse`, never a message. */
export function systemCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; current && depth < 5; depth++) {
    const { code } = current as { code?: unknown };
    if (typeof code === "string" && /^[A-Z0-9_]+$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
