/** A tenant's rate: `perSecond` refill, up to `burst` at once (default `perSecond`). */
export interface RateLimit {
  perSecond: number;
  burst?: number;
}

/** Takes one callback's token for a tenant; false when the tenant is over its rate. */
export type RateLimiter = (tenant: string, limit: RateLimit | undefined) => boolean;

/**
 * An in-process token bucket per tenant, so one tenant's storm cannot starve
 * the others on the same gateway. Each gateway process counts on its own.
 *
 * @example
 * const take = createRateLimiter(Date.now);
 * if (!take("acme", { perSecond: 100, burst: 200 })) answer429();
 */
export function createRateLimiter(clock: () => number): RateLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>();
  return (tenant, limit) => {
    if (!limit) return true;
    const capacity = Math.max(1, limit.burst ?? limit.perSecond);
    const now = clock();
    const bucket = buckets.get(tenant) ?? { tokens: capacity, at: now };
    const elapsed = Math.max(0, now - bucket.at);
    bucket.tokens = Math.min(capacity, bucket.tokens + (elapsed * limit.perSecond) / 1000);
    bucket.at = now;
    buckets.set(tenant, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  };
}
