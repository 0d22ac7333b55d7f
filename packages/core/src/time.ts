let lastMs: number | undefined;
let lastIso = "";

/**
 * ISO-8601 UTC with milliseconds, the one time format in events. The last
 * one is kept: a busy gateway stamps many callbacks within the same
 * millisecond, and a `Date` and its text per callback showed in its profile.
 */
export function isoTime(ms: number): string {
  if (ms === lastMs) return lastIso;
  const iso = new Date(ms).toISOString();
  lastMs = ms;
  lastIso = iso;
  return iso;
}

/** Vendor times are ms since the epoch; anything implausible (seconds, garbage) falls back. */
export function vendorTimeMs(value: unknown): number | undefined {
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isFinite(n)) return undefined;
  // 2001-09-09 .. 2286-11-20 in ms: rejects seconds and counters.
  if (n < 1e12 || n >= 1e13) return undefined;
  return Math.trunc(n);
}
