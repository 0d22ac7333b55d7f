import { postTencent, tencentRequest } from "./harness.js";

/** One callback of a storm: which user, what came back, and when (ms since the storm began). */
export interface StormCall {
  n: number;
  user: string;
  status: number;
  body: Record<string, unknown> | string;
  sentAt: number;
  ms: number;
}

export interface Storm {
  /** Resolves once every callback is answered (or failed). */
  done: Promise<StormCall[]>;
  /** Calls answered so far. */
  calls: StormCall[];
  /** The storm's start, as `Date.now()`. */
  startedAt: number;
  /** Starts no more callbacks; `done` resolves once those in flight are answered. */
  stop(): void;
}

/**
 * Sends `count` signed Tencent Login callbacks, one per user (`${userPrefix}${n}`),
 * over `concurrency` connections spread round-robin over the gateways.
 * A call that fails at the HTTP level counts with status 0.
 *
 * @example
 * const storm = startStorm({ gateways: [a.url, b.url], tenant: "acme", count: 5000 });
 * const calls = await storm.done;
 */
export function startStorm({
  gateways,
  tenant,
  count,
  concurrency = 50,
  userPrefix = "storm-",
}: {
  gateways: string[];
  tenant: string;
  count: number;
  concurrency?: number;
  userPrefix?: string;
}): Storm {
  const calls: StormCall[] = [];
  const startedAt = Date.now();
  let next = 0;
  let stopped = false;
  const lane = async (l: number) => {
    while (next < count && !stopped) {
      const n = next++;
      const user = `${userPrefix}${n}`;
      const gateway = gateways[(n + l) % gateways.length]!;
      const sent = Date.now();
      let status = 0;
      let body: StormCall["body"] = "";
      try {
        const res = await postTencent(gateway, tenant, tencentRequest({ user, eventTime: sent }));
        status = res.status;
        body = res.body;
      } catch (err) {
        body = (err as Error).message;
      }
      calls.push({ n, user, status, body, sentAt: sent - startedAt, ms: Date.now() - sent });
    }
  };
  const done = Promise.all(Array.from({ length: concurrency }, (_, l) => lane(l))).then(() =>
    [...calls].sort((a, b) => a.n - b.n),
  );
  return {
    done,
    calls,
    startedAt,
    stop: () => {
      stopped = true;
    },
  };
}
