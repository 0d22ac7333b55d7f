/** Percentile of a sorted numeric array (nearest rank). */
export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/** The median of numbers (the mean of the middle two of an even count); null for none. */
export function median(values) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** p50/p90/p99/p99.9/max (ms, 2 decimals) of a Float64Array of latencies. */
export function latencySummary(values, length = values.length) {
  const sorted = Float64Array.prototype.slice.call(values, 0, length).sort();
  const r = (x) => (x === null ? null : Math.round(x * 100) / 100);
  return {
    count: sorted.length,
    p50: r(percentile(sorted, 50)),
    p90: r(percentile(sorted, 90)),
    p99: r(percentile(sorted, 99)),
    p999: r(percentile(sorted, 99.9)),
    max: r(sorted.length ? sorted[sorted.length - 1] : null),
  };
}

/** Runs' rates pooled: all their deliveries ÷ all their time (`{ delivered, spanS }` each); 0 with no time. */
export function pooledRate(runs) {
  const time = runs.reduce((t, r) => t + r.spanS, 0);
  return time > 0 ? runs.reduce((d, r) => d + r.delivered, 0) / time : 0;
}
