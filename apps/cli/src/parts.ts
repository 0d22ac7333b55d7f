import type { RunningGateway } from "@imrelay/gateway";
import { within } from "@imrelay/store";
import type { RunningWorker } from "@imrelay/worker";
import type { Logger } from "pino";
import type { PrivateRedis } from "./redis-default.js";
import type { Stoppable } from "./shutdown.js";

/** The gateway, as shutdown sees it: out of time, the connections still open are cut. */
export function gatewayPart(gateway: RunningGateway): Stoppable {
  return {
    name: "gateway",
    close: () => gateway.close(),
    abandon() {
      const cut = gateway.closeNow();
      return cut
        ? [`${cut} requests cut off mid-way (a callback not answered 200 may or may not have been queued)`]
        : [];
    },
  };
}

/** The worker, as shutdown sees it: out of time, the deliveries in flight are handed back to the queue. */
export function workerPart(worker: RunningWorker, logger: Logger): Stoppable {
  return {
    name: "worker",
    close: () => worker.close(),
    async abandon(budgetMs) {
      const ids = worker.inFlight();
      if (ids.length === 0) return [];
      // Handing back needs Redis; when it does not answer in time, the deliveries count as kept.
      const result = await within(worker.handBack(), Math.max(budgetMs - 100, 0));
      const { handedBack, kept } = result || { handedBack: [], kept: ids };
      if (handedBack.length > 0) {
        logger.warn({ jobIds: handedBack }, `handed ${handedBack.length} in-flight deliveries back to the queue`);
      }
      const lines: string[] = [];
      if (handedBack.length > 0) lines.push(`${handedBack.length} deliveries in flight handed back to the queue`);
      if (kept.length > 0) {
        lines.push(
          `${kept.length} deliveries in flight could not be handed back (${kept.join(", ")}): another worker ` +
            "takes them over once their lock runs out (delivery.lockDuration + delivery.stalledInterval)",
        );
      }
      return lines;
    },
  };
}

/** The private redis-server child: stopped after everything that uses it, and never left running. */
export function privateRedisPart(redis: PrivateRedis): Stoppable {
  return {
    name: "private redis-server",
    close: () => redis.stop(),
    // Out of time: it still gets its signal, so it does not outlive imrelay.
    abandon: () => {
      void redis.stop();
      return [];
    },
    last: true,
  };
}
