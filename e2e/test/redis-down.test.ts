import { afterAll, describe, expect, it } from "vitest";
import {
  newSecret,
  postTencent,
  type Relay,
  sleep,
  startPrivateRedis,
  startRelay,
  startSink,
  tencentRequest,
  waitFor,
} from "../src/harness.js";

const secret = newSecret();
let relay: Relay | undefined;
let sink: Awaited<ReturnType<typeof startSink>> | undefined;
let redis: Awaited<ReturnType<typeof startPrivateRedis>> | undefined;

afterAll(async () => {
  await relay?.stop("SIGKILL");
  await sink?.close();
  await redis?.stop();
});

describe("Redis stopped under a running gateway", () => {
  it("answers 503 in the vendor's envelope, fails readyz, and recovers when Redis returns", async () => {
    redis = await startPrivateRedis();
    sink = await startSink(secret);
    relay = await startRelay({
      env: { REDIS_URL: redis.url },
      config: {
        tenants: {
          acme: { tencent: { sdkAppId: "1400000000" }, endpoints: [{ id: "presence", url: sink.url, secret }] },
        },
        delivery: { allowPrivateNetworks: true, retrySchedule: ["200ms"] },
      },
    });
    expect((await postTencent(relay.url, "acme", tencentRequest({ user: "before" }))).status).toBe(200);
    await waitFor(() => sink!.received.length === 1, 10_000, "the first delivery");

    await redis.stop();
    const started = Date.now();
    const down = await postTencent(relay.url, "acme", tencentRequest({ user: "during" }));
    expect(Date.now() - started).toBeLessThan(2000); // Tencent waits 2 s
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ ActionStatus: "FAIL", ErrorCode: 1, ErrorInfo: expect.any(String) });
    expect((await fetch(`${relay.url}/readyz`)).status).toBe(503);
    expect((await fetch(`${relay.url}/healthz`)).status).toBe(200);

    redis = await startPrivateRedis(redis.port);
    await waitFor(async () => (await fetch(`${relay!.url}/readyz`)).status === 200, 20_000, "readyz to recover");
    await waitFor(
      async () => (await postTencent(relay!.url, "acme", tencentRequest({ user: "after" }))).status === 200,
      10_000,
      "ingest to recover",
    );
    await waitFor(
      () => sink!.received.some((r) => r.payload.data.userId === "after"),
      20_000,
      "the delivery after recovery",
    );
    await sleep(300);
    expect(sink.received.some((r) => r.payload.data.userId === "during")).toBe(false);
    expect(relay.child.exitCode).toBeNull();
  });
});
