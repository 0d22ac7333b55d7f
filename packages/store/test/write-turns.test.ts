import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { holdWritesThisTurn } from "../src/write-turns.js";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
const turn = () => new Promise((resolve) => setImmediate(resolve));

beforeAll(async () => {
  await redis.ping();
});

afterAll(() => {
  redis.disconnect();
});

describe("holding a connection's writes for the turn", () => {
  it("buffers this turn's commands in the socket and sends them together at its end, in order", async () => {
    holdWritesThisTurn(redis);
    const replies = Promise.all([redis.echo("a"), redis.echo("b"), redis.echo("c")]);
    // Nothing has left yet: all three wait in the corked socket.
    expect(redis.stream.writableCorked).toBe(1);
    expect(redis.stream.writableLength).toBeGreaterThan(0);
    await turn();
    expect(redis.stream.writableCorked).toBe(0);
    expect(redis.stream.writableLength).toBe(0);
    expect(await replies).toEqual(["a", "b", "c"]);
  });

  it("holds a connection once however often it is asked in a turn, so one release frees it", async () => {
    holdWritesThisTurn(redis);
    holdWritesThisTurn(redis);
    const reply = redis.echo("once");
    expect(redis.stream.writableCorked).toBe(1);
    await turn();
    expect(redis.stream.writableCorked).toBe(0);
    expect(await reply).toBe("once");
    // And again in the next turn.
    holdWritesThisTurn(redis);
    expect(redis.stream.writableCorked).toBe(1);
    const next = redis.echo("again");
    await turn();
    expect(await next).toBe("again");
  });

  it("leaves a connection that is not ready as it is", () => {
    const idle = new Redis(REDIS_URL, { lazyConnect: true });
    try {
      expect(() => holdWritesThisTurn(idle)).not.toThrow();
      expect(idle.status).toBe("wait");
    } finally {
      idle.disconnect();
    }
  });
});
