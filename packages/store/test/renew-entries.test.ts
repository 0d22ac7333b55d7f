import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redisKeys } from "../src/keys.js";
import { renewEntries } from "../src/renew-entries.js";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
const keys = redisKeys(`test-${randomUUID()}`, 1);
const stream = keys.ingest(0);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Each pending entry's owner and idle time, by id. */
async function pending(): Promise<Map<string, { owner: string; idleMs: number; deliveries: number }>> {
  const rows = (await redis.xpending(stream, keys.ingestGroup, "-", "+", 100)) as Array<
    [string, string, number, number]
  >;
  return new Map(rows.map(([id, owner, idleMs, deliveries]) => [id, { owner, idleMs, deliveries }]));
}

beforeAll(async () => {
  await redis.xgroup("CREATE", stream, keys.ingestGroup, "$", "MKSTREAM");
});

afterAll(async () => {
  await redis.del(stream);
  redis.disconnect();
});

describe("renewing the entries a dispatcher holds", () => {
  it("resets the idle time of those it still owns, and leaves one another consumer claimed with it", async () => {
    const ids = [await redis.xadd(stream, "*", "e", "1"), await redis.xadd(stream, "*", "e", "2")] as string[];
    await redis.xreadgroup("GROUP", keys.ingestGroup, "worker-a", "COUNT", 10, "STREAMS", stream, ">");
    // worker-a paused past claimIdleMs: worker-b took the second entry over.
    await redis.xclaim(stream, keys.ingestGroup, "worker-b", 0, ids[1]!, "JUSTID");
    await sleep(60);
    expect(await renewEntries(redis, keys, 0, "worker-a", ids)).toBe(1);
    const after = await pending();
    expect(after.get(ids[0]!)?.owner).toBe("worker-a");
    expect(after.get(ids[0]!)?.idleMs).toBeLessThan(60);
    // A renewal is not a delivery: the count XPENDING keeps of those stays as the read left it.
    expect(after.get(ids[0]!)?.deliveries).toBe(1);
    expect(after.get(ids[1]!)?.owner).toBe("worker-b");
    expect(after.get(ids[1]!)?.idleMs).toBeGreaterThanOrEqual(60);
  });

  it("renews more entries than Lua can unpack at once, and skips ids no longer pending", async () => {
    const pipeline = redis.pipeline();
    for (let i = 0; i < 2_500; i++) pipeline.xadd(stream, "*", "e", String(i));
    const ids = (await pipeline.exec())!.map(([, id]) => id as string);
    await redis.xreadgroup("GROUP", keys.ingestGroup, "worker-c", "COUNT", 5_000, "STREAMS", stream, ">");
    await redis.xack(stream, keys.ingestGroup, ids[0]!);
    await sleep(60);
    expect(await renewEntries(redis, keys, 0, "worker-c", ids)).toBe(2_499);
    const rows = (await redis.xpending(stream, keys.ingestGroup, "-", "+", 5_000, "worker-c")) as Array<
      [string, string, number, number]
    >;
    expect(rows).toHaveLength(2_499);
    // Every one renewed (idle reset), in every run of the script's claims, none counted as a delivery.
    expect(rows.filter(([, , idleMs]) => idleMs >= 60)).toEqual([]);
    expect(rows.filter(([, , , deliveries]) => deliveries !== 1)).toEqual([]);
    expect(await renewEntries(redis, keys, 0, "worker-c", [])).toBe(0);
  });
});
