import { redisKeys } from "@imrelay/store";
import { Registry } from "prom-client";
import { afterAll, describe, expect, it } from "vitest";
import { startGateway } from "../src/run-gateway.js";
import { dropPrefix, fixtureJson, memoryLogger, newPrefix, newRedis, streamEvents, testConfig } from "./helpers.js";

const prefix = newPrefix();
const redis = newRedis();

afterAll(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

describe("startGateway", () => {
  it("listens on the configured host, lets an in-flight callback finish on close, and then stops", async () => {
    const config = testConfig(
      { tenants: { acme: { openim: { appId: "a" } } }, gateway: { host: "127.0.0.1", port: 0 } },
      prefix,
    );
    const registry = new Registry();
    const gateway = await startGateway({ config, logger: memoryLogger().logger, registry });
    const base = `http://127.0.0.1:${gateway.port}`;
    expect(gateway.port).toBeGreaterThan(0);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);

    // A callback whose body is still arriving when close() is called.
    const body = JSON.stringify({ ...fixtureJson("openim-online.json"), userID: "inflight" });
    let finish!: () => void;
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(new TextEncoder().encode(body.slice(0, 20)));
        await new Promise<void>((r) => {
          finish = r;
        });
        controller.enqueue(new TextEncoder().encode(body.slice(20)));
        controller.close();
      },
    });
    const pending = fetch(`${base}/v1/tenants/acme/openim/callbackAfterUserOnlineCommand`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: stream,
      duplex: "half",
    } as RequestInit);
    await new Promise((r) => setTimeout(r, 100));
    const closed = gateway.close();
    expect(gateway.close()).toBe(closed);
    finish();
    const res = await pending;
    expect(res.status).toBe(200);
    await closed;
    const users = (await streamEvents(redis, redisKeys(prefix))).map((e) => e.userId);
    expect(users).toEqual(["inflight"]);
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  });

  it("shares one registry with another component without registering a metric twice", async () => {
    const config = testConfig(
      { tenants: { acme: { openim: { appId: "a" } } }, gateway: { host: "127.0.0.1", port: 0 } },
      prefix,
    );
    const registry = new Registry();
    const a = await startGateway({ config, logger: memoryLogger().logger, registry });
    const b = await startGateway({ config, logger: memoryLogger().logger, registry });
    expect(a.port).not.toBe(b.port);
    const text = await registry.metrics();
    expect(text.match(/# TYPE imrelay_callbacks_total counter/g)).toHaveLength(1);
    await Promise.all([a.close(), b.close()]);
  });
});

describe("startGateway on a port already in use", () => {
  it("rejects with the listen error", async () => {
    const config = testConfig(
      { tenants: { acme: { openim: { appId: "a" } } }, gateway: { host: "127.0.0.1", port: 0 } },
      prefix,
    );
    const first = await startGateway({ config, logger: memoryLogger().logger, registry: new Registry() });
    const taken = { ...config, gateway: { ...config.gateway, port: first.port } };
    await expect(
      startGateway({ config: taken, logger: memoryLogger().logger, registry: new Registry() }),
    ).rejects.toThrow(/EADDRINUSE/);
    await first.close();
  });
});
