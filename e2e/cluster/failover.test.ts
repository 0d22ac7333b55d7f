import { keySlot, partitionTags } from "@imrelay/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalCluster, startCluster } from "../src/cluster.js";
import { newPrefix, newSecret, type Relay, sleep, startRelay, startSink, waitFor } from "../src/harness.js";
import { startStorm } from "../src/storm.js";

let cluster: LocalCluster;
const relays: Relay[] = [];
let sink: Awaited<ReturnType<typeof startSink>> | undefined;

beforeAll(async () => {
  cluster = await startCluster();
});

afterAll(async () => {
  await Promise.all(relays.map((relay) => relay.stop("SIGKILL")));
  await sink?.close();
  await cluster?.stop();
});

const TENANT = "acme";
const STORM = 5000;

describe("a master killed with SIGKILL during a storm, with replicaAcks: 1", () => {
  it("fails over to its replica; 503s only in the failover window, each within 2 s; every 200 delivered", async () => {
    const prefix = newPrefix();
    const secret = newSecret();
    sink = await startSink(secret);
    const config = {
      redis: { prefix, replicaAcks: 1 },
      tenants: { [TENANT]: { tencent: { sdkAppId: "1400000000" }, endpoints: [{ id: "s", url: sink.url, secret }] } },
      // A delivery in flight when its master died is taken over once its lock runs out: keep that short here.
      delivery: { allowPrivateNetworks: true, retrySchedule: ["200ms", "1s", "5s"], lockDuration: "5s" },
    };
    const env = { REDIS_URL: "", REDIS_CLUSTER_NODES: cluster.seeds, LOG_LEVEL: "info" };
    relays.push(
      ...(await Promise.all([
        startRelay({ command: "gateway", config, env }),
        startRelay({ command: "gateway", config, env }),
        startRelay({ command: "worker", config, env }),
        startRelay({ command: "worker", config, env }),
      ])),
    );
    const gateways = relays.slice(0, 2).map((r) => r.url);

    // The victim holds partition 0's slot; its replica will take over.
    const victim = await cluster.masterOf(keySlot(partitionTags(16)[0]!));
    const storm = startStorm({ gateways, tenant: TENANT, count: STORM, concurrency: 50 });
    // What /readyz says through it all, every 100 ms.
    const readiness: Array<{ at: number; status: number }> = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const status = await fetch(`${gateways[0]}/readyz`).then(
          (r) => r.status,
          () => 0,
        );
        readiness.push({ at: Date.now() - storm.startedAt, status });
        await sleep(100);
      }
    })();
    await waitFor(() => storm.calls.length >= 500, 30_000, "the storm to be under way");
    const killedAt = Date.now() - storm.startedAt;
    await cluster.kill(victim.port);

    // The replica is promoted; then the old master comes back and rejoins as its replica,
    // which is when replicaAcks: 1 can be met again for those slots.
    await waitFor(
      async () => {
        const nodes = await cluster.describe();
        const holder = nodes.find(
          (n) => n.role === "master" && !n.failed && n.slots.some(([a]) => a === victim.slots[0]![0]),
        );
        return holder && holder.port !== victim.port;
      },
      20_000,
      "a replica to take over the slots",
    );
    const promotedAt = Date.now() - storm.startedAt;
    await cluster.restart(victim.port);
    await cluster.waitHealthy();
    const healedAt = Date.now() - storm.startedAt;

    const calls = await storm.done;
    expect(calls).toHaveLength(STORM);
    await waitFor(() => readiness.at(-1)?.status === 200, 10_000, "readyz to say 200 again");
    polling = false;
    await poller;
    // Not ready while a slot had no reachable master; ready before the kill and after.
    expect(readiness.filter((r) => r.at < killedAt).every((r) => r.status === 200)).toBe(true);
    expect(readiness.some((r) => r.at > killedAt && r.at < healedAt && r.status === 503)).toBe(true);
    // After the storm, with the cluster whole again, every callback is taken.
    const after = startStorm({ gateways, tenant: TENANT, count: 200, concurrency: 10, userPrefix: "after-" });
    const afterCalls = await after.done;
    expect(afterCalls.filter((c) => c.status !== 200)).toEqual([]);

    const refused = calls.filter((c) => c.status !== 200);
    const slow = calls.filter((c) => c.ms >= 2000);
    const summary = {
      killedAt,
      healedAt,
      answered200: calls.length - refused.length,
      refused: refused.length,
      firstRefusedAt: refused[0]?.sentAt,
      lastRefusedAt: refused.at(-1)?.sentAt,
      slowest: Math.max(...calls.map((c) => c.ms)),
      lastSentAt: Math.max(...calls.map((c) => c.sentAt)),
      refusedAfterPromotion: refused.filter((c) => c.sentAt > promotedAt).length,
    };
    console.log("failover storm:", JSON.stringify(summary));
    expect(slow).toEqual([]);
    for (const call of refused) {
      // The vendor's envelope with a 503, and only while the failover lasted.
      expect(call.status).toBe(503);
      expect(call.body).toMatchObject({ ActionStatus: "FAIL", ErrorCode: 1 });
      // (A callback already waiting on the master when it died counts too: it was sent up to 1 s before.)
      expect(call.sentAt).toBeGreaterThanOrEqual(killedAt - 1000);
      expect(call.sentAt).toBeLessThanOrEqual(healedAt + 2000);
    }

    // At least once: every callback answered 200 reaches the endpoint, signed.
    const answered = new Set([...calls, ...afterCalls].filter((c) => c.status === 200).map((c) => c.user));
    await waitFor(
      () => {
        const delivered = new Set(sink!.received.map((r) => String(r.payload.data.userId)));
        return [...answered].every((user) => delivered.has(user));
      },
      90_000,
      "every callback answered 200 to be delivered",
    ).catch((err) => {
      const delivered = new Set(sink!.received.map((r) => String(r.payload.data.userId)));
      const missing = [...answered].filter((user) => !delivered.has(user));
      throw new Error(`${(err as Error).message}: ${missing.length} missing, e.g. ${missing.slice(0, 5).join(", ")}`);
    });
    expect(sink.received.every((r) => r.verified)).toBe(true);
    await sleep(100);
  }, 180_000);
});
