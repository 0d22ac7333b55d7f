/**
 * `compute` remembered per key, for values derived from the config (endpoint
 * URLs, secrets): they are few, so each is worked out once, not once per
 * delivery. Reloads may bring new keys without end: past `max` the memo
 * starts again rather than grow.
 *
 * @example
 * const hostOf = configMemo((url: string) => new URL(url).hostname);
 */
export function configMemo<V>(compute: (key: string) => V, max = 10_000): (key: string) => V {
  const kept = new Map<string, V>();
  return (key) => {
    let value = kept.get(key);
    if (value === undefined) {
      value = compute(key);
      if (kept.size >= max) kept.clear();
      kept.set(key, value);
    }
    return value;
  };
}
