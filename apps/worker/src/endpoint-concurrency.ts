import type { ImrelayConfig } from "@imrelay/config";

/**
 * `delivery.endpointConcurrency`, or half of `concurrency` (at least 1); never more than `concurrency`.
 *
 * @example
 * endpointConcurrency({ concurrency: 50 }); // 25
 */
export function endpointConcurrency({
  concurrency,
  endpointConcurrency,
}: Pick<ImrelayConfig["delivery"], "concurrency" | "endpointConcurrency">): number {
  return Math.min(endpointConcurrency ?? Math.max(1, Math.ceil(concurrency / 2)), concurrency);
}
