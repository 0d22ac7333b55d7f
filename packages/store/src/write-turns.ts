import type { Redis } from "ioredis";
import { isCluster, type RedisClient } from "./connection.js";

/** Sockets whose writes wait for the end of this turn of the event loop. */
const held = new WeakSet<object>();

/**
 * Holds the connection's writes until the end of this turn of the event loop
 * (its check phase), so that the commands of every callback handled in one
 * poll phase leave in one `writev` rather than in a write each. On a busy
 * gateway the write of each callback's ingest command was a fifth of its CPU:
 * every loopback write wakes Redis anew. Held in the poll phase (a callback's
 * I/O), the writes leave at that turn's end; held in the check phase (the
 * worker's flushes run from `setImmediate`), at the next turn's, after its
 * timers and I/O: bounded either way, as a pending immediate keeps the poll
 * from waiting (about 1 ms when idle). On a cluster client,
 * each master's connection is held; a connection that is not ready (its
 * commands fail or queue) is left as it is.
 *
 * @example
 * holdWritesThisTurn(redis);
 * await redis.call("PING"); // written with whatever else this turn writes on `redis`
 */
export function holdWritesThisTurn(client: RedisClient): void {
  if (isCluster(client)) for (const node of client.nodes("master")) hold(node);
  else hold(client);
}

function hold(client: Redis): void {
  const { stream } = client;
  if (client.status !== "ready" || !stream || held.has(stream)) return;
  held.add(stream);
  stream.cork();
  setImmediate(() => {
    held.delete(stream);
    stream.uncork();
  });
}
