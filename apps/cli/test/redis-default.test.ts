import { createServer } from "node:net";
import { Redis } from "ioredis";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { ensureRedis, RedisUnavailableError, redisAnswers } from "../src/redis-default.js";

const silent = pino({ level: "silent" });

function unusedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

describe("the CLI's Redis default", () => {
  it("uses the Redis that answers at the default address", async () => {
    const url = new URL(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
    const redis = await ensureRedis(silent, { port: Number(url.port || 6379) });
    expect(redis.child).toBeUndefined();
    expect(redis.url).toBe(`redis://127.0.0.1:${url.port || 6379}`);
  });

  it("starts a private redis-server when nothing answers, and stops it", async () => {
    const port = await unusedPort();
    expect(await redisAnswers("127.0.0.1", port)).toBe(false);
    const redis = await ensureRedis(silent, { port });
    try {
      expect(redis.child?.pid).toBeGreaterThan(0);
      const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      expect(await client.ping()).toBe("PONG");
      client.disconnect();
    } finally {
      await redis.stop();
    }
    expect(redis.child?.exitCode !== null || redis.child?.signalCode !== null).toBe(true);
    expect(await redisAnswers("127.0.0.1", Number(new URL(redis.url).port))).toBe(false);
  });

  it("says how to get Redis when there is none and no redis-server to start", async () => {
    const port = await unusedPort();
    const attempt = ensureRedis(silent, { port, command: "redis-server-that-is-not-installed" });
    await expect(attempt).rejects.toBeInstanceOf(RedisUnavailableError);
    await expect(attempt).rejects.toThrow(/REDIS_URL/);
  });
});
