import { afterAll, describe, expect, it } from "vitest";
import {
  dropPrefix,
  freePort,
  newPrefix,
  newSecret,
  postTencent,
  type Relay,
  redisClient,
  sleep,
  startRelay,
  startSink,
  tencentRequest,
  waitFor,
} from "../src/harness.js";

const prefix = newPrefix();
const secret = newSecret();
const redis = redisClient();
const relays: Relay[] = [];
let sink: Awaited<ReturnType<typeof startSink>> | undefined;

afterAll(async () => {
  for (const r of relays) await r.stop("SIGKILL");
  await sink?.close();
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

describe("a worker killed with SIGKILL mid-delivery", () => {
  it("loses nothing: every accepted event is delivered once another worker runs", async () => {
    // The first request hangs (the worker is mid-delivery when it dies); every later one succeeds.
    sink = await startSink(secret, (n) => (n === 1 ? { status: 200, hang: true } : { status: 200 }));
    const config = {
      redis: { prefix },
      tenants: {
        acme: { tencent: { sdkAppId: "1400000000" }, endpoints: [{ id: "presence", url: sink.url, secret }] },
      },
      delivery: {
        allowPrivateNetworks: true,
        retrySchedule: ["200ms", "200ms"],
        timeoutMs: 30_000,
        lockDuration: "2s",
      },
    };
    const gateway = await startRelay({ command: "gateway", config });
    relays.push(gateway);
    const first = await startRelay({ command: "worker", config });
    relays.push(first);

    expect((await postTencent(gateway.url, "acme", tencentRequest({ user: "u0" }))).status).toBe(200);
    await waitFor(() => sink!.received.length === 1, 10_000, "the first delivery to be in flight");

    first.child.kill("SIGKILL");
    await waitFor(() => first.child.exitCode !== null || first.child.signalCode !== null, 5000, "the worker to die");

    // Accepted while no worker runs at all.
    for (let i = 1; i <= 20; i++) {
      expect((await postTencent(gateway.url, "acme", tencentRequest({ user: `u${i}` }))).status).toBe(200);
    }
    await sleep(300);
    expect(sink.received).toHaveLength(1);

    const second = await startRelay({ command: "worker", config, port: await freePort() });
    relays.push(second);
    const attemptsOf = (user: string) => sink!.received.filter((r) => r.payload.data.userId === user);
    // u0 comes back once the dead worker's lock (2 s) expires and the job is found stalled.
    await waitFor(
      () => attemptsOf("u0").length >= 2 && new Set(sink!.received.map((r) => r.payload.data.userId)).size === 21,
      30_000,
      "u0's redelivery and all 21 users",
    );
    const users = new Set(sink.received.map((r) => r.payload.data.userId));
    for (let i = 0; i <= 20; i++) expect(users.has(`u${i}`)).toBe(true);
    // u0 was attempted twice (the dead worker's attempt, then the redelivery) under one webhook-id.
    const u0 = sink.received.filter((r) => r.payload.data.userId === "u0").map((r) => r.headers["webhook-id"]);
    expect(u0.length).toBeGreaterThanOrEqual(2);
    expect(new Set(u0).size).toBe(1);

    // A worker run apart serves its own metrics: the redelivered job and the 20 others, all 2xx.
    const metrics = await (await fetch(`${second.url}/metrics`)).text();
    const delivered = /imrelay_deliveries_total\{[^}]*outcome="2xx"[^}]*\} (\d+)/.exec(metrics);
    expect(Number(delivered?.[1])).toBe(21);
  });
});
