import { Agent } from "undici";
import { createGuardedLookup } from "./address-cache.js";
import type { ResolveAll } from "./ssrf.js";

/**
 * The undici dispatcher deliveries go through. Unless private networks are
 * allowed, every connection resolves its host with a guarded lookup
 * ({@link createGuardedLookup}) that keeps each checked answer for
 * `dnsCacheMs`. Redirects are never followed (undici's `request` does not), so
 * a 3xx cannot lead past the guard.
 *
 * @example
 * const agent = createDeliveryAgent({ allowPrivateNetworks: false, timeoutMs: 15000, connections: 50, dnsCacheMs: 30000 });
 * await agent.close();
 */
export function createDeliveryAgent({
  allowPrivateNetworks,
  timeoutMs,
  connections,
  dnsCacheMs = 0,
  resolve,
}: {
  allowPrivateNetworks: boolean;
  timeoutMs: number;
  /** Keep-alive connections per origin at most: the worker's concurrency, so one endpoint never gets more sockets than deliveries in flight. */
  connections?: number;
  /** How long a name's checked addresses are used before it is resolved and checked again; 0 asks DNS on every connection. @default 0 */
  dnsCacheMs?: number;
  /** Where names are resolved. @default `dns.lookup` from `node:dns` */
  resolve?: ResolveAll;
}): Agent {
  return new Agent({
    ...(connections ? { connections } : {}),
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connect: allowPrivateNetworks
      ? { timeout: timeoutMs }
      : {
          timeout: timeoutMs,
          lookup: createGuardedLookup({ ttlMs: dnsCacheMs, ...(resolve ? { lookup: resolve } : {}) }),
        },
  });
}
