import { disableEndpoint, enableEndpoint } from "@imrelay/store";
import { afterAll, describe, expect, it } from "vitest";
import { createDisabledEndpointCheck, DISABLED_CACHE_MS } from "../src/index.js";
import { cleanupPrefix, newRedis, redisKeys, testPrefix } from "./helpers.js";

const redis = newRedis();
const prefix = testPrefix();
const keys = redisKeys(prefix);

afterAll(async () => {
  await cleanupPrefix(redis, prefix);
  redis.disconnect();
});

describe("the worker's copy of the disabled endpoints", () => {
  it("sees a disable made elsewhere within DISABLED_CACHE_MS, and an enable at once", async () => {
    let clock = 1_000_000;
    const check = createDisabledEndpointCheck({ redis, keys, now: () => clock });
    expect(await check.isDisabled("acme", "presence")).toBe(false);

    // Disabled by the admin API (another process): the copy, read once per period, does not know yet.
    await disableEndpoint(redis, keys, "acme", "presence", "paused by an admin");
    clock += DISABLED_CACHE_MS - 1;
    expect(await check.isDisabled("acme", "presence")).toBe(false);
    clock += 1;
    expect(await check.isDisabled("acme", "presence")).toBe(true);
    expect(await check.isDisabled("acme", "other")).toBe(false);

    // Enabled again: believed at once, with no wait for the copy to age (a replay follows right away).
    await enableEndpoint(redis, keys, "acme", "presence");
    expect(await check.isDisabled("acme", "presence")).toBe(false);
  });

  it("knows at once an endpoint this worker disabled itself", async () => {
    const clock = 2_000_000;
    const check = createDisabledEndpointCheck({ redis, keys, now: () => clock });
    expect(await check.isDisabled("acme", "gone")).toBe(false);
    await disableEndpoint(redis, keys, "acme", "gone", "410 Gone");
    check.markDisabled("acme", "gone");
    expect(await check.isDisabled("acme", "gone")).toBe(true);
  });

  it("shares one read among deliveries that ask at the same time", async () => {
    const clock = 3_000_000;
    const check = createDisabledEndpointCheck({ redis, keys, now: () => clock });
    const before = await hkeysCalls();
    await Promise.all(Array.from({ length: 50 }, () => check.isDisabled("acme", "presence")));
    // Other tests may run HKEYS on this Redis too, so allow a little: never one per delivery.
    expect((await hkeysCalls()) - before).toBeLessThan(10);
  });
});

async function hkeysCalls(): Promise<number> {
  const info = await redis.info("commandstats");
  return Number(/cmdstat_hkeys:calls=(\d+)/.exec(info)?.[1] ?? 0);
}
