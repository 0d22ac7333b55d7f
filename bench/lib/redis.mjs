import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { freePort, start, stop } from "./procs.mjs";

/**
 * A private redis-server for the bench on a free port, with persistence off,
 * so numbers are not disturbed by other users of the shared test Redis.
 */
export async function startRedis() {
  const port = await freePort();
  const proc = start("redis", "redis-server", [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--protected-mode",
    "no",
  ]);
  const url = `redis://127.0.0.1:${port}`;
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  client.on("error", () => {}); // refused until redis-server listens; the loop below retries
  for (let i = 0; i < 100; i++) {
    try {
      if (client.status !== "ready") await client.connect().catch(() => {});
      if ((await client.ping()) === "PONG") break;
    } catch {}
    await sleep(100);
  }
  const info = await client.info("server");
  const version = /redis_version:(\S+)/.exec(info)?.[1];
  return {
    url,
    port,
    proc,
    client,
    version,
    async usedMemory() {
      const text = await client.info("memory");
      return Number(/^used_memory:(\d+)/m.exec(text)?.[1]);
    },
    async flush() {
      await client.flushall();
    },
    async close() {
      client.disconnect();
      await stop(proc);
    },
  };
}
