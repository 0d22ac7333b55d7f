/** ISO-8601 UTC with milliseconds, the one time format in events. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** Vendor times are ms since the epoch; anything implausible (seconds, garbage) falls back. */
export function vendorTimeMs(value: unknown): number | undefined {
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isFinite(n)) return undefined;
  // 2001-09-09 .. 2286-11-20 in ms: rejects seconds and counters.
  if (n < 1e12 || n >= 1e13) return undefined;
  return Math.trunc(n);
}
