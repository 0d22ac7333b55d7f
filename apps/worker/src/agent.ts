import { Agent } from "undici";
import { guardedLookup } from "./ssrf.js";

/**
 * The undici dispatcher deliveries go through. Unless private networks are
 * allowed, every connection resolves its host with {@link guardedLookup}.
 * Redirects are never followed (undici's `request` does not), so a 3xx cannot
 * lead past the guard.
 *
 * @example
 * const agent = createDeliveryAgent({ allowPrivateNetworks: false, timeoutMs: 15000, connections: 50 });
 * await agent.close();
 */
export function createDeliveryAgent({
  allowPrivateNetworks,
  timeoutMs,
  connections,
}: {
  allowPrivateNetworks: boolean;
  timeoutMs: number;
  /** Keep-alive connections per origin at most: the worker's concurrency, so one endpoint never gets more sockets than deliveries in flight. */
  connections?: number;
}): Agent {
  return new Agent({
    ...(connections ? { connections } : {}),
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connect: allowPrivateNetworks ? { timeout: timeoutMs } : { timeout: timeoutMs, lookup: guardedLookup },
  });
}
