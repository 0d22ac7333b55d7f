import { keySlot, partitionTags } from "@imrelay/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalCluster, reshard, startCluster } from "../src/cluster.js";
import { newPrefix, newSecret, type Relay, startRelay, startSink, waitFor } from "../src/harness.js";
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

describe("redis-cli --cluster reshard under load", () => {
  it("moves 1,000 slots, a partition's among them, and loses nothing", async () => {
    const prefix = newPrefix();
    const secret = newSecret();
    sink = await startSink(secret);
    const config = {
      redis: { prefix },
      tenants: { [TENANT]: { tencent: { sdkAppId: "1400000000" }, endpoints: [{ id: "s", url: sink.url, secret }] } },
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

    // The master of slot 0 gives its first 1,000 slots to another: partition 0's slot is among them.
    const partitionSlot = keySlot(partitionTags(16)[0]!);
    expect(partitionSlot).toBeLessThan(1000);
    const from = await cluster.masterOf(0);
    const to = (await cluster.describe()).find((n) => n.role === "master" && n.id !== from.id)!;

    // Callbacks before (so the moving slots hold data), during and after the reshard.
    const storm = startStorm({ gateways, tenant: TENANT, count: 1_000_000, concurrency: 20 });
    await waitFor(() => storm.calls.length >= 500, 30_000, "the load to be under way");
    await reshard(cluster, from.id, to.id, 1000);
    const moved = storm.calls.length;
    await waitFor(() => storm.calls.length >= moved + 300, 30_000, "load after the reshard");
    // Stop the load: no lane starts another callback.
    storm.stop();
    const calls = await storm.done;

    expect((await cluster.masterOf(partitionSlot)).id).toBe(to.id);
    const refused = calls.filter((c) => c.status !== 200);
    console.log(
      "reshard load:",
      JSON.stringify({ calls: calls.length, refused: refused.length, duringReshard: moved }),
    );
    // ioredis follows MOVED and ASK and retries TRYAGAIN: a reshard is invisible to vendors.
    expect(refused).toEqual([]);
    expect(Math.max(...calls.map((c) => c.ms))).toBeLessThan(2000);

    const answered = new Set(calls.map((c) => c.user));
    await waitFor(
      () => {
        const delivered = new Set(sink!.received.map((r) => String(r.payload.data.userId)));
        return [...answered].every((user) => delivered.has(user));
      },
      60_000,
      "every callback to be delivered",
    );
    expect(sink.received.every((r) => r.verified)).toBe(true);
  }, 180_000);
});
