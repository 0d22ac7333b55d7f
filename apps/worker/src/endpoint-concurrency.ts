import type { ImrelayConfig } from "@imrelay/config";

type Delivery = Pick<ImrelayConfig["delivery"], "concurrency" | "endpointConcurrency">;

/**
 * `delivery.endpointConcurrency`, or half of `concurrency` (at least 1); never more than `concurrency`.
 *
 * @example
 * endpointConcurrency({ concurrency: 50 }); // 25
 */
export function endpointConcurrency({ concurrency, endpointConcurrency }: Delivery): number {
  return Math.min(endpointConcurrency ?? Math.max(1, Math.ceil(concurrency / 2)), concurrency);
}

/**
 * What one endpoint that answers briskly may hold of the first attempts' slots: with
 * `delivery.endpointConcurrency` unset, all but a tenth (at least one), which stay for the others
 * should it stall; set, no more than that.
 *
 * @example
 * briskConcurrency({ concurrency: 50 }); // 45
 * briskConcurrency({ concurrency: 50, endpointConcurrency: 10 }); // 10
 */
export function briskConcurrency(delivery: Delivery): number {
  const share = endpointConcurrency(delivery);
  if (delivery.endpointConcurrency !== undefined) return share;
  return Math.max(share, delivery.concurrency - Math.max(1, Math.ceil(delivery.concurrency / 10)));
}
