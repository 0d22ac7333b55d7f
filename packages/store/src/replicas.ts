import { CallbackError } from "@imrelay/core";
import type { RedisClient } from "./connection.js";

/** How long `WAIT` waits for replicas by default: a short answer leaves room within Tencent's 2 s. */
export const REPLICA_WAIT_MS = 500;

/**
 * Asks the node holding `slotKey` how many replicas have every write this
 * connection made to it (`WAIT`), waiting at most `timeoutMs`. WAIT counts
 * the writes of the connection it is sent on, so on a cluster it goes in a
 * pipeline with a read of `slotKey`: the cluster client sends both to that
 * slot's master on the connection its writes used.
 *
 * @example
 * const acked = await replicasAcked(redis, keys.ingest(p), 1, 500); // 1 once a replica has the event
 */
export async function replicasAcked(
  redis: RedisClient,
  slotKey: string,
  replicas: number,
  timeoutMs: number = REPLICA_WAIT_MS,
): Promise<number> {
  if (!redis.isCluster) return Number(await redis.wait(replicas, timeoutMs));
  const replies = (await redis.pipeline().exists(slotKey).wait(replicas, timeoutMs).exec()) ?? [];
  const [err, acked] = replies[1] ?? [new Error("no reply to WAIT"), 0];
  if (err) throw err;
  return Number(acked);
}

/**
 * The 503 of a write that Redis took but fewer replicas than `replicaAcks`
 * confirmed in time: a failover of its master now could lose it.
 */
export function replicasShort(acked: number, wanted: number, timeoutMs: number, what: string): CallbackError {
  return new CallbackError(
    "STORE_UNAVAILABLE",
    `Redis has ${what} but only ${acked} of ${wanted} replicas confirmed it within ${timeoutMs} ms (redis.replicaAcks): ${what} was queued and could be lost if its Redis master fails`,
  );
}
