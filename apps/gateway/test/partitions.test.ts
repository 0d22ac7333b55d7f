import type { ChildProcess } from "node:child_process";
import type { ImrelayConfig } from "@imrelay/config";
import { PartitionCountError, redisKeys } from "@imrelay/store";
import { Redis } from "ioredis";
import { Registry } from "prom-client";
import { afterAll, describe, expect, it } from "vitest";
import { type LayoutRefusal, startGateway } from "../src/run-gateway.js";
import { dropPrefix, fixtureJson, memoryLogger, newPrefix, newRedis, post, testConfig } from "./helpers.js";
import { freePort, startRedis, stopRedis } from "./private-redis.js";

const prefix = newPrefix();
const redis = newRedis();
const children: ChildProcess[] = [];

afterAll(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
  for (const child of children) await stopRedis(child);
});

/** The test config, with a Redis and a partition count of the test's choosing. */
function config(redisPart: Partial<ImrelayConfig["redis"]>, keyPrefix = prefix): ImrelayConfig {
  const base = testConfig(
    { tenants: { acme: { openim: { appId: "a" } } }, gateway: { host: "127.0.0.1", port: 0 } },
    keyPrefix,
  );
  return { ...base, redis: { ...base.redis, ...redisPart } };
}

const online = (userID: string) => JSON.stringify({ ...fixtureJson("openim-online.json"), userID });
const json = { "content-type": "application/json" };

describe("the partition count", () => {
  it("is stored at first start, and another count is refused at start naming both numbers", async () => {
    const first = await startGateway({
      config: config({ partitions: 16 }),
      logger: memoryLogger().logger,
      registry: new Registry(),
    });
    await first.close();
    expect(await redis.hget(redisKeys(prefix).meta, "partitions")).toBe("16");

    const started = startGateway({
      config: config({ partitions: 8 }),
      logger: memoryLogger().logger,
      registry: new Registry(),
    });
    await expect(started).rejects.toBeInstanceOf(PartitionCountError);
    await expect(started).rejects.toThrow(
      `redis.partitions is 8, but the data under prefix "${prefix}" was written with 16 partitions`,
    );
  });

  it("refuses every callback, and says so once, when Redis answers only after start-up and holds another count", async () => {
    const keyPrefix = newPrefix();
    const port = await freePort();
    const child = await startRedis(port);
    children.push(child);
    const admin = new Redis(port, "127.0.0.1");
    await admin.hset(redisKeys(keyPrefix).meta, "partitions", "16");
    // Redis answers nothing for longer than the gateway waits at start-up (5 s), then everything.
    await admin.client("PAUSE", 6000, "ALL");
    admin.disconnect();
    const log = memoryLogger();
    let fatal: LayoutRefusal | undefined;
    const gateway = await startGateway({
      config: config({ url: `redis://127.0.0.1:${port}`, partitions: 4 }, keyPrefix),
      logger: log.logger,
      registry: new Registry(),
      onFatal: (err) => {
        fatal = err;
      },
    });
    try {
      expect(fatal).toBeUndefined();
      const deadline = Date.now() + 10_000;
      while (!fatal && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(fatal?.message).toContain("redis.partitions is 4, but");
      expect(fatal?.message).toContain("written with 16 partitions");
      const res = await post(
        `http://127.0.0.1:${gateway.port}/v1/tenants/acme/openim/callbackAfterUserOnlineCommand`,
        online("late"),
        json,
      );
      expect(res.status).toBe(503);
      expect(res.body.errMsg).toBe("the gateway's redis.partitions does not match Redis: the event was not queued");
      expect(log.json().filter((line) => line.code === "PARTITIONS_MISMATCH")).toHaveLength(1);
    } finally {
      await gateway.close();
    }
  }, 20_000);
});

describe("redis.replicaAcks on one node", () => {
  it("answers 503 within a second while the node has no replica, and 200 once one has the event", async () => {
    const port = await freePort();
    // A replica that attaches gets its copy at once, not after the default 5 s wait for more replicas.
    const master = await startRedis(port, ["--repl-diskless-sync-delay", "0"]);
    children.push(master);
    const gateway = await startGateway({
      config: config({ url: `redis://127.0.0.1:${port}`, replicaAcks: 1 }),
      logger: memoryLogger().logger,
      registry: new Registry(),
    });
    try {
      const url = `http://127.0.0.1:${gateway.port}/v1/tenants/acme/openim/callbackAfterUserOnlineCommand`;
      const started = Date.now();
      const alone = await post(url, online("alone"), json);
      expect(Date.now() - started).toBeLessThan(1000);
      expect(alone.status).toBe(503);
      expect(alone.body).toMatchObject({ errCode: 503, errDlt: "STORE_UNAVAILABLE" });
      expect(alone.body.errMsg).toBe(
        "Redis has the event but only 0 of 1 replicas confirmed it within 500 ms (redis.replicaAcks): the event was queued and could be lost if its Redis master fails",
      );

      const replica = await startRedis(await freePort(), ["--replicaof", "127.0.0.1", String(port)]);
      children.push(replica);
      const deadline = Date.now() + 10_000;
      let res = await post(url, online("copied"), json);
      while (res.status !== 200 && Date.now() < deadline) res = await post(url, online("copied"), json);
      expect(res.status).toBe(200);
      // The first one was queued all along; its re-send is a duplicate, answered 200 now that a replica has it.
      expect((await post(url, online("alone"), json)).status).toBe(200);
    } finally {
      await gateway.close();
    }
  }, 20_000);
});
