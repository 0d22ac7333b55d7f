import { CLUSTER_SLOTS, isCluster, type RedisClient } from "@imrelay/store";

/** What `/readyz` found. */
export interface Readiness {
  ready: boolean;
  /** Why not, in a few words (no addresses). */
  reason?: string;
}

/** Resolves with the promise's value, or `fallback` once `ms` have passed (or when it rejects). */
function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(fallback), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      () => {
        clearTimeout(timer);
        resolve(fallback);
      },
    );
  });
}

/**
 * Is Redis able to take callbacks? One node: it answers PING. A cluster: it
 * says `cluster_state:ok`, every slot has a master in the client's map, and
 * every one of those masters answers PING — a slot without a reachable
 * master would refuse the callbacks of its partition.
 *
 * @example
 * const { ready, reason } = await redisReadiness(redis, 500);
 */
export async function redisReadiness(redis: RedisClient, timeoutMs: number): Promise<Readiness> {
  if (!isCluster(redis)) {
    const pong = await within(redis.ping(), timeoutMs, "");
    return pong === "PONG" ? { ready: true } : { ready: false, reason: "not answering" };
  }
  const info = await within(redis.cluster("INFO") as Promise<string>, timeoutMs, "");
  if (!/^cluster_state:ok\b/m.test(info)) {
    return { ready: false, reason: info ? "cluster state is not ok" : "not answering" };
  }
  const masters = new Set<string>();
  for (let slot = 0; slot < CLUSTER_SLOTS; slot++) {
    const master = redis.slots[slot]?.[0];
    if (!master) return { ready: false, reason: "a slot has no master" };
    masters.add(master);
  }
  const answering = new Set<string>();
  await Promise.all(
    redis.nodes("master").map(async (node) => {
      if ((await within(node.ping(), timeoutMs, "")) === "PONG")
        answering.add(`${node.options.host}:${node.options.port}`);
    }),
  );
  for (const master of masters) {
    if (!answering.has(master)) return { ready: false, reason: "a master is not answering" };
  }
  return { ready: true };
}
