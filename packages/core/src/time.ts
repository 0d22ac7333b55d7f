let lastMs: number | undefined;
let lastIso = "";
/** The one before the last: a callback stamps two times (the vendor's and its arrival), and parses both back. */
let prevMs: number | undefined;
let prevIso = "";
/** The UTC day of the last time formatted the long way, and its text up to the "T". */
let dayStartMs = Number.NaN;
let dayText = "";

const DAY_MS = 86_400_000;
const MAX_DATE_MS = 8.64e15;

/**
 * ISO-8601 UTC with milliseconds, the one time format in events. A busy
 * gateway stamps many callbacks within the same millisecond, and most within
 * the same day: the last text is kept, and a time of the same day as the last
 * formatted gets its date from it and only its time of day made (a `Date` and
 * `toISOString` per callback showed in the gateway's profile).
 */
export function isoTime(ms: number): string {
  if (ms === lastMs) return lastIso;
  if (ms === prevMs) return prevIso;
  // A fraction of a millisecond is cut by the text: kept out of the two, so `isoTimeMs` stays exact.
  if (!Number.isInteger(ms)) return new Date(ms).toISOString();
  let iso: string;
  const t = ms - dayStartMs;
  // The last ms a Date holds starts a day: past it, the long way (it throws).
  if (t >= 0 && t < DAY_MS && ms <= MAX_DATE_MS) {
    const h = Math.floor(t / 3_600_000);
    const m = Math.floor(t / 60_000) % 60;
    const s = Math.floor(t / 1000) % 60;
    const milli = t % 1000;
    iso = `${dayText}${two(h)}:${two(m)}:${two(s)}.${milli < 10 ? "00" : milli < 100 ? "0" : ""}${milli}Z`;
  } else {
    iso = new Date(ms).toISOString();
    dayStartMs = Math.floor(ms / DAY_MS) * DAY_MS;
    dayText = iso.slice(0, iso.indexOf("T") + 1);
  }
  prevMs = lastMs;
  prevIso = lastIso;
  // -0 is kept as 0: parsed back, the text is 0.
  lastMs = ms + 0;
  lastIso = iso;
  return iso;
}

const two = (n: number) => (n < 10 ? `0${n}` : `${n}`);

/**
 * `Date.parse` of an ISO time, at once for one of the last two `isoTime` made
 * (an event's times are parsed again on their way to Redis).
 */
export function isoTimeMs(iso: string): number {
  if (iso === lastIso && lastMs !== undefined) return lastMs;
  if (iso === prevIso && prevMs !== undefined) return prevMs;
  return Date.parse(iso);
}

/** Vendor times are ms since the epoch; anything implausible (seconds, garbage) falls back. */
export function vendorTimeMs(value: unknown): number | undefined {
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isFinite(n)) return undefined;
  // 2001-09-09 .. 2286-11-20 in ms: rejects seconds and counters.
  if (n < 1e12 || n >= 1e13) return undefined;
  return Math.trunc(n);
}
