import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { heldMember, holdWritesThisTurn, keySlot, partitionOf, partitionTags, redisKeys } from "@imrelay/store";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { type LocalCluster, startCluster } from "../src/cluster.js";
import {
  adminRequest,
  newPrefix,
  newSecret,
  postOpenIm,
  postTencent,
  type Relay,
  runCli,
  sleep,
  startRelay,
  startSink,
  tencentRequest,
  waitFor,
} from "../src/harness.js";
import { startStorm } from "../src/storm.js";

// One real cluster (3 masters, 3 replicas) for the whole file; each test has a key prefix of its own.
let cluster: LocalCluster;
const relays: Relay[] = [];
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  cluster = await startCluster();
});

afterAll(async () => {
  await Promise.all(relays.map((relay) => relay.stop("SIGKILL")));
  for (const close of closers) await close();
  await cluster?.stop();
});

const ADMIN_TOKEN = "cluster-admin-token-0123456789";
const TENANT = "acme";
const dir = mkdtempSync(join(tmpdir(), "imrelay-cluster-e2e-"));

type Config = Record<string, unknown> & { redis: Record<string, unknown> };

/** Two gateways and two workers: one pair names the seed nodes in its file, the other reads REDIS_CLUSTER_NODES. */
async function startTwoOfEach(config: Config) {
  const fromFile = { ...config, redis: { ...config.redis, cluster: { nodes: cluster.seedUrls } } };
  const env = { REDIS_URL: "", LOG_LEVEL: "info" };
  const envNodes = { ...env, REDIS_CLUSTER_NODES: cluster.seeds };
  const started = await Promise.all([
    startRelay({ command: "gateway", config: fromFile, env }),
    startRelay({ command: "gateway", config, env: envNodes }),
    startRelay({ command: "worker", config: fromFile, env }),
    startRelay({ command: "worker", config, env: envNodes }),
  ]);
  relays.push(...started);
  return { gateways: [started[0]!, started[1]!], workers: [started[2]!, started[3]!] };
}

/** The master that holds a user's partition. */
async function masterOfUser(user: string): Promise<string> {
  const tag = partitionTags(16)[partitionOf(TENANT, user, 16)]!;
  return (await cluster.masterOf(keySlot(tag))).address;
}

/** A cluster client of the test's own, closed after the file. */
function clusterClient() {
  const client = cluster.client();
  closers.push(async () => client.disconnect());
  return client;
}

describe("imrelay on a Redis Cluster", () => {
  it("holds every master's writes for the turn, and sends them all at its end", async () => {
    const client = clusterClient();
    const keys = partitionTags(16).map((tag) => `${newPrefix()}:{${tag}}:held`);
    // One command through each master first: the client connects to the masters as it needs them.
    await Promise.all(keys.map((key) => client.set(key, "before")));
    const masters = client.nodes("master");
    expect(masters).toHaveLength(3);
    holdWritesThisTurn(client);
    const writes = Promise.all(keys.map((key) => client.set(key, "after")));
    for (const master of masters) expect(master.stream.writableCorked).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    for (const master of masters) expect(master.stream.writableCorked).toBe(0);
    await writes;
    expect(await Promise.all(keys.map((key) => client.get(key)))).toEqual(keys.map(() => "after"));
  });

  it("hashes keys to the slots the cluster does (CRC16 as CLUSTER KEYSLOT)", async () => {
    const client = clusterClient();
    const keys = redisKeys("imrelay", 16);
    const samples = [
      ...Array.from({ length: 16 }, (_, p) => keys.ingest(p)),
      ...Array.from({ length: 100 }, (_, i) => keys.presence("acme", `user-${i}-用户`)),
      "no tag at all",
      "{}",
      "a{}b{c}",
    ];
    for (const key of samples) expect([key, keySlot(key)]).toEqual([key, await client.cluster("KEYSLOT", key)]);
  });

  it("check-config shows the cluster mode, the seed nodes and the partitions", async () => {
    const file = join(dir, "check.yaml");
    writeFileSync(file, stringify({ redis: { partitions: 32 }, tenants: { acme: { tencent: { sdkAppId: "1" } } } }));
    const res = await runCli(["check-config"], { IMRELAY_CONFIG: file, REDIS_CLUSTER_NODES: cluster.seeds });
    expect(res.code).toBe(0);
    expect(res.out).toContain(`redis: cluster mode, 6 seed nodes: ${cluster.seeds.split(",").join(", ")}`);
    expect(res.out).toContain('32 partitions, prefix "imrelay"');
  });

  it("relays Tencent and OpenIM callbacks through two gateways and two workers, for users on every master", async () => {
    const prefix = newPrefix();
    const secret = newSecret();
    const presence = await startSink(secret);
    // Fails each event's first attempt: every delivery here is a retry.
    const flakySecret = newSecret();
    const attempted = new Set<string>();
    const flaky = await startSink(flakySecret, (_n, got) => {
      const id = got.headers["webhook-id"] as string;
      if (attempted.has(id)) return { status: 200 };
      attempted.add(id);
      return { status: 503 };
    });
    // Refuses everything until told otherwise: its deliveries become dead letters, then are replayed.
    const deadSecret = newSecret();
    let deadHealthy = false;
    const dead = await startSink(deadSecret, () => ({ status: deadHealthy ? 200 : 500 }));
    closers.push(presence.close, flaky.close, dead.close);

    const config: Config = {
      redis: { prefix },
      admin: { token: ADMIN_TOKEN },
      tenants: {
        [TENANT]: {
          tencent: { sdkAppId: "1400000000" },
          openim: { appId: "acme-openim" },
          endpoints: [
            { id: "presence", url: presence.url, secret },
            { id: "flaky", url: flaky.url, secret: flakySecret, events: ["user.online"] },
            { id: "dead", url: dead.url, secret: deadSecret, events: ["user.offline"] },
          ],
        },
      },
      presence: { openimExpiry: "3s", sweepInterval: "200ms" },
      delivery: { allowPrivateNetworks: true, retrySchedule: ["100ms", "100ms"] },
    };
    const { gateways } = await startTwoOfEach(config);
    for (const gateway of gateways) expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200);

    const users = Array.from({ length: 24 }, (_, i) => `t${i}`);
    const masters = new Set(await Promise.all(users.map(masterOfUser)));
    expect(masters.size).toBe(3);

    // Tencent: a login per user, alternating gateways; one callback sent twice (a vendor re-send).
    const sentAt = Date.now();
    const logins = users.map((user, i) => tencentRequest({ user, eventTime: sentAt + i }));
    for (const [i, login] of logins.entries()) {
      expect((await postTencent(gateways[i % 2]!.url, TENANT, login)).status).toBe(200);
    }
    expect((await postTencent(gateways[1]!.url, TENANT, logins[0]!)).status).toBe(200);
    // Then a logout for a few: offline events, the dead endpoint's share.
    const leavers = users.slice(0, 3);
    for (const [i, user] of leavers.entries()) {
      const logout = tencentRequest({ user, action: "Logout", reason: "Unregister", eventTime: sentAt + 100 + i });
      expect((await postTencent(gateways[i % 2]!.url, TENANT, logout)).status).toBe(200);
    }
    // OpenIM: online now, never renewed, so each goes offline by itself (reason expired) after 3 s.
    const openimUsers = ["o1", "o2", "o3"];
    for (const [i, user] of openimUsers.entries()) {
      const seq = Date.now();
      const res = await postOpenIm(gateways[i % 2]!.url, TENANT, "callbackAfterUserOnlineCommand", {
        operationID: `op-${user}`,
        platformID: 5,
        platform: "Web",
        userID: user,
        seq,
        isAppBackground: false,
        connID: "",
      });
      expect(res.status).toBe(200);
    }

    // Signed, verified, once each: 24 logins, 3 logouts, 3 OpenIM onlines and their 3 expiries.
    const expected = users.length + leavers.length + 2 * openimUsers.length;
    await waitFor(() => presence.received.length >= expected, 20_000, "every event at the presence endpoint");
    await sleep(500);
    expect(presence.received.every((r) => r.verified)).toBe(true);
    expect(new Set(presence.ids()).size).toBe(presence.received.length);
    expect(presence.received).toHaveLength(expected);
    const events = presence.received.map((r) => r.payload.data);
    const expired = events.filter((e) => e.reason === "expired").map((e) => e.userId);
    expect(expired.sort()).toEqual(openimUsers);
    // Sequence and presence are kept per user, whichever gateway took the callback. Arrival order is
    // not promised (two workers deliver a user's events side by side): `sequence` is, so read by it.
    for (const user of leavers) {
      const mine = events
        .filter((e) => e.userId === user)
        .sort((a, b) => (a.sequence as number) - (b.sequence as number));
      expect(mine.map((e) => [e.type, e.sequence])).toEqual([
        ["user.online", 1],
        ["user.offline", 2],
      ]);
    }

    // Presence of users on every master, read in one request (one pipeline per master).
    const query = await adminRequest(gateways[0]!.url, ADMIN_TOKEN, `/v1/tenants/${TENANT}/presence/query`, {
      userIds: [...users, ...openimUsers],
    });
    expect(query.status).toBe(200);
    // By user id (`{ users: { "<id>": <presence> } }`).
    const online = Object.values(query.body.users as Record<string, { userId: string; online: boolean }>)
      .filter((p) => p.online)
      .map((p) => p.userId);
    expect(online.sort()).toEqual(users.slice(leavers.length).sort());

    // Retries: each flaky delivery was refused once, then delivered.
    await waitFor(() => new Set(flaky.ids()).size === users.length + openimUsers.length, 20_000, "the retries");

    // Dead letters from every partition's queue, listed and replayed through either gateway.
    const listed = await waitFor(
      async () => {
        const res = await adminRequest(gateways[1]!.url, ADMIN_TOKEN, "/v1/deliveries?state=failed&endpoint=dead");
        return (res.body.total as number) === leavers.length + openimUsers.length ? res : undefined;
      },
      20_000,
      "the dead letters",
    );
    const deadIds = (listed.body.deliveries as Array<{ id: string }>).map((d) => d.id);
    const one = await adminRequest(gateways[0]!.url, ADMIN_TOKEN, `/v1/deliveries/${deadIds[0]}`);
    expect(one.status).toBe(200);
    deadHealthy = true;
    const retried = await adminRequest(gateways[0]!.url, ADMIN_TOKEN, `/v1/deliveries/${deadIds[0]}/retry`, {});
    expect(retried.status).toBe(202);
    const recovered = await adminRequest(
      gateways[1]!.url,
      ADMIN_TOKEN,
      `/v1/tenants/${TENANT}/endpoints/dead/recover`,
      {
        since: new Date(sentAt - 60_000).toISOString(),
      },
    );
    expect(recovered.body.retried).toBe(deadIds.length - 1);
    await waitFor(
      () => dead.received.filter((r) => r.verified).length >= 3 * deadIds.length + deadIds.length,
      20_000,
      "the replays",
    );
    const replayed = new Set(dead.received.slice(-deadIds.length).map((r) => r.payload.data.id));
    expect(replayed.size).toBe(deadIds.length);
  }, 90_000);

  it("holds offlines in each partition's held set and releases them, and paces a rate-limited endpoint", async () => {
    const prefix = newPrefix();
    const secret = newSecret();
    const all = await startSink(secret);
    const limitedSecret = newSecret();
    const limitedAt: number[] = [];
    const limited = await startSink(limitedSecret, () => {
      limitedAt.push(Date.now());
      return { status: 200 };
    });
    closers.push(all.close, limited.close);
    const GRACE_MS = 4_000;
    const config: Config = {
      redis: { prefix },
      tenants: {
        [TENANT]: {
          tencent: { sdkAppId: "1400000000" },
          endpoints: [
            { id: "all", url: all.url, secret },
            {
              id: "limited",
              url: limited.url,
              secret: limitedSecret,
              events: ["user.online"],
              rateLimit: { perSecond: 5 },
            },
          ],
        },
      },
      presence: { offlineGrace: `${GRACE_MS}ms`, sweepInterval: "200ms" },
      delivery: { allowPrivateNetworks: true, retrySchedule: ["100ms", "100ms"] },
    };
    const env = { REDIS_URL: "", REDIS_CLUSTER_NODES: cluster.seeds };
    const started = await Promise.all([
      startRelay({ command: "gateway", config, env }),
      startRelay({ command: "worker", config, env }),
    ]);
    relays.push(...started);
    const gateway = started[0]!;
    const users = Array.from({ length: 12 }, (_, i) => `g${i}`);
    expect(new Set(await Promise.all(users.map(masterOfUser))).size).toBe(3);

    const sentAt = Date.now();
    for (const [i, user] of users.entries()) {
      const login = tencentRequest({ user, eventTime: sentAt + i });
      expect((await postTencent(gateway.url, TENANT, login)).status).toBe(200);
    }
    // The limited endpoint gets the 12 logins one turn (200 ms) apart, whichever master their partition is on.
    await waitFor(() => limitedAt.length >= users.length, 20_000, "the logins at the limited endpoint");
    expect(limitedAt.at(-1)! - limitedAt[0]!).toBeGreaterThanOrEqual(1_800);
    await waitFor(() => new Set(all.ids()).size === users.length, 20_000, "the logins");

    const loggedOutAt = Date.now();
    for (const [i, user] of users.entries()) {
      const logout = tencentRequest({ user, action: "Logout", reason: "Unregister", eventTime: sentAt + 100 + i });
      expect((await postTencent(gateway.url, TENANT, logout)).status).toBe(200);
    }
    // Each hold is in its user's partition's held set (the partition's slot, on its master), not in one shared set.
    const client = clusterClient();
    const keys = redisKeys(prefix, 16);
    const heldIn = (user: string) => keys.held(keys.partitionOf(TENANT, user));
    for (const user of users) {
      expect(await client.zscore(heldIn(user), heldMember({ tenant: TENANT, userId: user }))).not.toBeNull();
    }
    // Released by the gateway's sweep of every partition once the grace is over, as flips.
    await waitFor(() => new Set(all.ids()).size === 2 * users.length, 20_000, "the held offlines");
    expect(Date.now() - loggedOutAt).toBeGreaterThanOrEqual(GRACE_MS - 500);
    const byId = new Map(all.received.map((r) => [r.payload.data.id, r.payload.data]));
    const offlines = [...byId.values()].filter((e) => e.type === "user.offline");
    expect(offlines.map((e) => e.userId).sort()).toEqual([...users].sort());
    expect(offlines.every((e) => e.changed === true)).toBe(true);
    for (const user of users) expect(await client.zcard(heldIn(user))).toBe(0);
  }, 90_000);

  it("spreads keys and commands over the masters: each holds and serves at least 20 % of a storm", async () => {
    const prefix = newPrefix();
    const secret = newSecret();
    const sink = await startSink(secret);
    closers.push(sink.close);
    const { gateways } = await startTwoOfEach({
      redis: { prefix },
      tenants: { [TENANT]: { tencent: { sdkAppId: "1400000000" }, endpoints: [{ id: "s", url: sink.url, secret }] } },
      delivery: { allowPrivateNetworks: true },
    });
    const masters = (await cluster.describe()).filter((n) => n.role === "master");
    const nodes = masters.map((m) => new Redis(m.port, "127.0.0.1"));
    closers.push(async () => {
      for (const node of nodes) node.disconnect();
    });
    const commands = async () =>
      Promise.all(nodes.map(async (n) => Number(/total_commands_processed:(\d+)/.exec(await n.info("stats"))![1])));
    const before = await commands();
    const storm = startStorm({ gateways: gateways.map((g) => g.url), tenant: TENANT, count: 3000, concurrency: 40 });
    const calls = await storm.done;
    expect(calls.filter((c) => c.status !== 200)).toEqual([]);
    await waitFor(() => new Set(sink.ids()).size === 3000, 60_000, "every delivery");
    const served = (await commands()).map((after, i) => after - before[i]!);
    const keyCounts = await Promise.all(
      nodes.map(async (n) => {
        let count = 0;
        let cursor = "0";
        do {
          const [next, found] = await n.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
          count += found.length;
          cursor = next;
        } while (cursor !== "0");
        return count;
      }),
    );
    const share = (list: number[]) => list.map((x) => x / list.reduce((a, b) => a + b, 0));
    for (const s of share(served)) expect(s).toBeGreaterThanOrEqual(0.2);
    for (const s of share(keyCounts)) expect(s).toBeGreaterThanOrEqual(0.2);
  }, 120_000);

  it("refuses to start a gateway or a worker with another partition count, naming both numbers", async () => {
    const prefix = newPrefix();
    const file = join(dir, "partitions.yaml");
    const first = await startRelay({
      command: "gateway",
      config: { redis: { prefix, partitions: 16 }, tenants: { acme: { tencent: { sdkAppId: "1" } } } },
      env: { REDIS_URL: "", REDIS_CLUSTER_NODES: cluster.seeds },
    });
    await first.stop();
    writeFileSync(
      file,
      stringify({ redis: { prefix, partitions: 8 }, tenants: { acme: { tencent: { sdkAppId: "1" } } } }),
    );
    for (const command of ["gateway", "worker"]) {
      const res = await runCli([command, "--port", "0"], {
        IMRELAY_CONFIG: file,
        REDIS_URL: "",
        REDIS_CLUSTER_NODES: cluster.seeds,
      });
      expect(res.code).toBe(1);
      expect(res.out).toContain(
        `redis.partitions is 8, but the data under prefix \\"${prefix}\\" was written with 16 partitions`,
      );
    }
  });

  it("refuses to start when redis.url points at a node of a cluster, and says what to set instead", async () => {
    const file = join(dir, "single.yaml");
    writeFileSync(file, stringify({ tenants: { acme: { tencent: { sdkAppId: "1" } } } }));
    const res = await runCli(["gateway", "--port", "0"], {
      IMRELAY_CONFIG: file,
      REDIS_URL: cluster.seedUrls[0]!,
      REDIS_CLUSTER_NODES: "",
    });
    expect(res.code).toBe(1);
    expect(res.out).toContain(
      "redis.url points at a node of a Redis Cluster: name the cluster's nodes in redis.cluster.nodes",
    );
  });
});
