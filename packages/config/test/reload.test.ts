import { describe, expect, it } from "vitest";
import {
  configHash,
  createConfigSource,
  type ImrelayConfig,
  type ImrelayConfigInput,
  liveConfig,
  parseConfig,
  planReload,
} from "../src/index.js";

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const endpoint = { id: "presence", url: "https://acme.example.com/hooks", secret };

function config(input: Partial<ImrelayConfigInput> = {}): ImrelayConfig {
  return parseConfig(
    { tenants: { acme: { tencent: { sdkAppId: "1400000000" }, endpoints: [endpoint] } }, ...input },
    "test",
    {},
  );
}

describe("configHash", () => {
  it("is the same for the same config written in another key order", () => {
    const a = parseConfig(
      { gateway: { port: 9000, host: "127.0.0.1" }, tenants: { acme: { tencent: { sdkAppId: "1" } } } },
      "a",
      {},
    );
    const b = parseConfig(
      { tenants: { acme: { tencent: { sdkAppId: "1" } } }, gateway: { host: "127.0.0.1", port: 9000 } },
      "b",
      {},
    );
    expect(configHash(a)).toMatch(/^[0-9a-f]{16}$/);
    expect(configHash(a)).toBe(configHash(b));
  });

  it("changes with a secret, and does not contain it", () => {
    const rotated = config({
      tenants: {
        acme: {
          tencent: { sdkAppId: "1400000000" },
          endpoints: [{ ...endpoint, secret: "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }],
        },
      },
    });
    expect(configHash(rotated)).not.toBe(configHash(config()));
    expect(configHash(config())).not.toContain(secret.slice(6, 14));
  });
});

describe("planReload", () => {
  it("takes the new tenants and names what it added, removed and changed", () => {
    const next = config({
      tenants: {
        acme: {
          tencent: { sdkAppId: "1400000000" },
          rateLimit: { perSecond: 5 },
          endpoints: [
            { ...endpoint, changesOnly: true },
            { ...endpoint, id: "audit" },
          ],
        },
        beta: { openim: { appId: "beta" } },
      },
    });
    const plan = planReload(config(), next);
    expect(plan.config.tenants).toBe(next.tenants);
    expect(plan.changes).toEqual({
      added: ["endpoint acme/audit", "tenant beta"],
      removed: [],
      changed: ["tenant acme", "endpoint acme/presence"],
    });
    expect(plan.notApplied).toEqual([]);
    expect(plan.unchanged).toBe(false);
  });

  it("keeps the running value of every setting that needs a restart, and names each one", () => {
    const running = config({ redis: { prefix: "one" }, delivery: { concurrency: 10 } });
    const next = config({
      redis: { prefix: "two", url: "redis://10.0.0.1:6379" },
      gateway: { port: 9999 },
      delivery: { concurrency: 20, retrySchedule: ["1s"], dnsCacheMs: "5s" },
    });
    const plan = planReload(running, next);
    expect(plan.notApplied).toEqual([
      "delivery.concurrency",
      "delivery.dnsCacheMs",
      "delivery.retrySchedule",
      "gateway.port",
      "redis.prefix",
      "redis.url",
    ]);
    expect(plan.config.redis).toEqual(running.redis);
    expect(plan.config.gateway).toEqual(running.gateway);
    expect(plan.config.delivery).toEqual(running.delivery);
    expect(plan.unchanged).toBe(true);
    // Nothing a reload applies changed: the config in effect is the running one, hash and all.
    expect(configHash(plan.config)).toBe(configHash(running));
  });

  it("removes a tenant and its endpoints", () => {
    const plan = planReload(config(), config({ tenants: { beta: { openim: { appId: "beta" } } } }));
    expect(plan.changes).toEqual({ added: ["tenant beta"], removed: ["tenant acme"], changed: [] });
    expect(Object.keys(plan.config.tenants)).toEqual(["beta"]);
  });
});

describe("liveConfig", () => {
  it("reads every section from the source at the time of the read", () => {
    const source = createConfigSource(config());
    const live = liveConfig(source);
    const seen: string[] = [];
    source.onChange((next, previous) => seen.push(`${Object.keys(previous.tenants)} → ${Object.keys(next.tenants)}`));
    expect(Object.keys(live.tenants)).toEqual(["acme"]);
    source.set(config({ tenants: { beta: { openim: { appId: "beta" } } } }));
    expect(Object.keys(live.tenants)).toEqual(["beta"]);
    expect(seen).toEqual(["acme → beta"]);
    expect(configHash(live)).toBe(configHash(source.current()));
  });
});
