import type { RedisClient } from "./connection.js";
import { within } from "./within.js";

/**
 * Closes a Redis connection without waiting on a Redis that is away. While
 * the connection is up, QUIT lets the commands already sent finish; when it
 * is down (a QUIT would sit in the offline queue until Redis returns), or
 * QUIT gets no answer within `timeoutMs`, the socket is dropped.
 *
 * @example
 * await closeRedis(connection);
 */
export async function closeRedis(redis: RedisClient, timeoutMs = 1000): Promise<void> {
  if (redis.status === "end") return;
  if (redis.status !== "ready") {
    redis.disconnect();
    return;
  }
  const quit = redis.quit().then(
    () => true,
    () => false,
  );
  if (!(await within(quit, timeoutMs))) redis.disconnect();
}
