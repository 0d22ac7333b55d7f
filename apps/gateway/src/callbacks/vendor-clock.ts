import { isoTimeMs } from "@imrelay/core";

/** The two times every event carries: the vendor's, and the gateway's at arrival. */
interface Timed {
  occurredAt: string;
  receivedAt: string;
}

/**
 * The event with its vendor time taken as the gateway's clock when the vendor
 * time is more than `maxSkewMs` ahead of it; undefined when the vendor time is
 * within bounds (the event is then used as is).
 *
 * Presence is last-write-wins by `occurredAt`, so one event from a vendor
 * whose clock is far ahead (a Tencent `EventTime` of 9.9e12) would win every
 * later comparison and pin the user's presence for good. A time in the past
 * is left alone: an old event is what `stale` is for.
 *
 * @example
 * clampVendorTime({ occurredAt: "2283-09-20T00:00:00.000Z", receivedAt: "2025-01-01T00:00:00.000Z" }, 300_000);
 * // { occurredAt: "2025-01-01T00:00:00.000Z", receivedAt: "2025-01-01T00:00:00.000Z" }
 */
export function clampVendorTime<E extends Timed>(event: E, maxSkewMs: number): E | undefined {
  const occurredAtMs = isoTimeMs(event.occurredAt);
  const receivedAtMs = isoTimeMs(event.receivedAt);
  if (!(occurredAtMs - receivedAtMs > maxSkewMs)) return undefined;
  return { ...event, occurredAt: event.receivedAt };
}
