import { ImrelayEvent } from "@imrelay/core";
import { createIngest, redisKeys } from "@imrelay/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { presenceModelOf } from "../src/callbacks/vendor.js";
import { createIngestRedis, whenReady } from "../src/redis.js";
import { adapterEvent, dropPrefix, expiryKey, newPrefix, REDIS_URL, streamEvents } from "./helpers.js";

const prefix = newPrefix();
const keys = redisKeys(prefix);
const redis = createIngestRedis(REDIS_URL);
const EXPIRY = 30 * 60_000;
const ingest = createIngest({ redis, keys, presenceModel: presenceModelOf(), expiryMs: EXPIRY });
const T0 = Date.UTC(2025, 6, 2, 7, 0, 0, 123);

beforeAll(async () => {
  expect(await whenReady(redis, 5000)).toBe(true);
});

afterAll(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

const tenant = "acme";
let n = 0;
const user = () => `user-${n++}`;

describe("the ingest script", () => {
  it("queues a complete event that validates against the delivered schema, with empty arrays kept as arrays", async () => {
    const userId = user();
    const out = await ingest(
      adapterEvent({ tenant, userId, provider: "tencent", status: "offline", platform: "ios", at: T0 }),
    );
    expect(out.outcome).toBe("queued");
    const onStream = (await streamEvents(redis, keys)).find((e) => e.userId === userId)!;
    expect(ImrelayEvent.strict().parse(onStream)).toEqual(onStream);
    expect(onStream).toEqual(out.event);
    expect(onStream.kickedPlatforms).toEqual([]);
    expect(onStream.presence).toEqual({ online: false, platforms: [] });
    expect(onStream).toMatchObject({ sequence: 1, changed: false, stale: false });
  });

  it("formats presence since as ISO-8601 with milliseconds", async () => {
    const userId = user();
    const at = Date.UTC(2024, 1, 29, 23, 59, 59, 7); // a leap day
    const out = await ingest(
      adapterEvent({ tenant, userId, provider: "tencent", status: "online", platform: "web", at }),
    );
    expect(out.event?.presence.platforms).toEqual([
      { provider: "tencent", platform: "web", device: null, since: "2024-02-29T23:59:59.007Z" },
    ]);
  });

  it("collapses a re-sent event id into one stream entry", async () => {
    const userId = user();
    const event = adapterEvent({ tenant, userId, provider: "tencent", status: "online", platform: "ios", at: T0 });
    expect((await ingest(event)).outcome).toBe("queued");
    expect((await ingest(event)).outcome).toBe("duplicate");
    expect((await streamEvents(redis, keys)).filter((e) => e.userId === userId)).toHaveLength(1);
    expect(await redis.ttl(keys.seen(keys.partitionOf(event.tenant, event.userId), event.id))).toBeGreaterThan(86_000);
  });

  it("treats an offline with the same millisecond as a stored online as stale", async () => {
    const userId = user();
    await ingest(adapterEvent({ tenant, userId, provider: "tencent", status: "online", platform: "ios", at: T0 }));
    const off = await ingest(
      adapterEvent({ tenant, userId, provider: "tencent", status: "offline", platform: "ios", at: T0 }),
    );
    expect(off.event).toMatchObject({ stale: true, changed: false, sequence: 2, presence: { online: true } });
  });

  it("lets an online with the same millisecond as a stored offline win", async () => {
    const userId = user();
    await ingest(adapterEvent({ tenant, userId, provider: "tencent", status: "offline", platform: "ios", at: T0 }));
    const on = await ingest(
      adapterEvent({ tenant, userId, provider: "tencent", status: "online", platform: "ios", at: T0 }),
    );
    expect(on.event).toMatchObject({ stale: false, changed: true, presence: { online: true } });
  });

  it("gives a custom status change a sequence without touching presence", async () => {
    const userId = user();
    await ingest(adapterEvent({ tenant, userId, provider: "tencent", status: "online", platform: "ios", at: T0 }));
    const custom = await ingest(
      adapterEvent({ tenant, userId, provider: "tencent", type: "user.status_changed", platform: "ios", at: T0 + 10 }),
    );
    expect(custom.event).toMatchObject({ sequence: 2, changed: false, stale: false, presence: { online: true } });
    expect(custom.event).not.toHaveProperty("status");
  });

  it("keeps the raw body and query beside the event, never inside it", async () => {
    const userId = user();
    const raw = { body: { a: [] as unknown[] }, query: { SdkAppid: "1" } };
    await ingest(adapterEvent({ tenant, userId, provider: "tencent", status: "online", platform: "ios", at: T0 }), {
      raw,
    });
    const entry = (await streamEvents(redis, keys)).find((e) => e.userId === userId)!;
    expect(entry._raw).toEqual(raw);
    expect(entry).not.toHaveProperty("raw");
  });

  it("scores an OpenIM online in the expiry set and removes it on offline", async () => {
    const userId = user();
    const member = JSON.stringify([tenant, userId, "openim", "android"]);
    await ingest(adapterEvent({ tenant, userId, provider: "openim", status: "online", platform: "android", at: T0 }));
    expect(Number(await redis.zscore(expiryKey(keys, tenant, userId), member))).toBe(T0 + EXPIRY);
    await ingest(
      adapterEvent({ tenant, userId, provider: "openim", status: "offline", platform: "android", at: T0 + 1 }),
    );
    expect(await redis.zscore(expiryKey(keys, tenant, userId), member)).toBeNull();
  });

  it("turns an OpenIM online for an online platform into a renewal that moves the expiry and keeps since", async () => {
    const userId = user();
    const member = JSON.stringify([tenant, userId, "openim", "web"]);
    await ingest(adapterEvent({ tenant, userId, provider: "openim", status: "online", platform: "web", at: T0 }));
    const renewal = await ingest(
      adapterEvent({ tenant, userId, provider: "openim", status: "online", platform: "web", at: T0 + 600_000 }),
    );
    expect(renewal).toEqual({ outcome: "renewal" });
    expect(Number(await redis.zscore(expiryKey(keys, tenant, userId), member))).toBe(T0 + 600_000 + EXPIRY);
    expect(await redis.hget(keys.presence(tenant, userId), "openim:web")).toBe(`1|${T0 + 600_000}|${T0}`);
    expect(await redis.hget(keys.presence(tenant, userId), "seq")).toBe("1");
  });

  it("counts an out-of-order OpenIM renewal as a renewal and keeps the newer time", async () => {
    const userId = user();
    const member = JSON.stringify([tenant, userId, "openim", "web"]);
    const online = (at: number) =>
      adapterEvent({ tenant, userId, provider: "openim", status: "online", platform: "web", at });
    await ingest(online(T0));
    expect(await ingest(online(T0 + 200))).toEqual({ outcome: "renewal" });
    // OpenIM's two senders can deliver the older renewal last: still not news, and not stale.
    expect(await ingest(online(T0 + 100))).toEqual({ outcome: "renewal" });
    expect(await redis.hget(keys.presence(tenant, userId), "openim:web")).toBe(`1|${T0 + 200}|${T0}`);
    expect(Number(await redis.zscore(expiryKey(keys, tenant, userId), member))).toBe(T0 + 200 + EXPIRY);
    expect((await streamEvents(redis, keys)).filter((e) => e.userId === userId)).toHaveLength(1);
  });

  it("does not let a kicked platform that is the login's own platform go offline", async () => {
    const userId = user();
    const out = await ingest(
      adapterEvent({
        tenant,
        userId,
        provider: "tencent",
        status: "online",
        platform: "ios",
        at: T0,
        kicked: ["ios", "web"],
      }),
    );
    expect(out.event?.presence.platforms.map((p) => p.platform)).toEqual(["ios"]);
    expect(await redis.hget(keys.presence(tenant, userId), "tencent:web")).toBe(`0|${T0}|0`);
  });
});
