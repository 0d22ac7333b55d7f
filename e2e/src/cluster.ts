import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Cluster, Redis } from "ioredis";

const run = promisify(execFile);

/** One `redis-server --cluster-enabled yes` process of a local test cluster. */
export interface ClusterNodeProcess {
  port: number;
  /** `127.0.0.1:<port>`, as the cluster names the node. */
  address: string;
  /** Its working directory: `nodes.conf` lives there, so a restarted node rejoins as itself. */
  dir: string;
  child: ChildProcess;
}

/** A node as `CLUSTER NODES` describes it. */
export interface ClusterNodeInfo {
  id: string;
  address: string;
  port: number;
  role: "master" | "replica";
  /** The master's id, for a replica. */
  masterId: string | null;
  failed: boolean;
  /** Slot ranges held, `[from, to]` inclusive (masters only). */
  slots: Array<[number, number]>;
}

export interface LocalCluster {
  nodes: ClusterNodeProcess[];
  /** Seed nodes for `REDIS_CLUSTER_NODES`: `127.0.0.1:<port>,…`. */
  seeds: string;
  /** The same as `redis://` URLs, for `redis.cluster.nodes`. */
  seedUrls: string[];
  /** `CLUSTER NODES`, read from the first node that answers. */
  describe(): Promise<ClusterNodeInfo[]>;
  /** The master holding a slot. */
  masterOf(slot: number): Promise<ClusterNodeInfo>;
  /** Waits until every live node says `cluster_state:ok`, agrees on the masters, and every replica is in sync. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Kills a node's process (SIGKILL by default) and waits for it to exit. */
  kill(port: number, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a killed node again from its directory: it rejoins the cluster as itself. */
  restart(port: number): Promise<void>;
  /** A cluster client for the test's own reads. */
  client(): Cluster;
  /** A plain connection to one node. */
  node(port: number): Redis;
  /** Stops every node and removes their directories. */
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/**
 * `count` consecutive ports below the ephemeral range (32768+) whose cluster
 * bus ports (+10000) are free as well, so no outgoing connection of the
 * machine can take one while the cluster runs.
 */
async function freeClusterPorts(count: number): Promise<number[]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 7000 + Math.floor(Math.random() * 15_000);
    const ports = Array.from({ length: count }, (_, i) => base + i);
    const free = await Promise.all(ports.flatMap((p) => [portFree(p), portFree(p + 10_000)]));
    if (free.every(Boolean)) return ports;
  }
  throw new Error("no free ports for a local Redis cluster");
}

function parseNodes(text: string): ClusterNodeInfo[] {
  return text
    .trim()
    .split("\n")
    .map((line) => {
      const [id, addr, flags, master, , , , , ...slots] = line.trim().split(" ");
      const address = addr!.split("@")[0]!;
      const flagList = flags!.split(",");
      return {
        id: id!,
        address,
        port: Number(address.split(":")[1]),
        role: flagList.includes("master") ? ("master" as const) : ("replica" as const),
        masterId: master === "-" ? null : master!,
        failed: flagList.includes("fail") || flagList.includes("noaddr"),
        slots: slots
          .filter((s) => !s.startsWith("["))
          .map((s) => {
            const [from, to] = s.split("-").map(Number);
            return [from!, to ?? from!] as [number, number];
          }),
      };
    });
}

/**
 * Starts a real Redis Cluster on loopback: `masters` masters with
 * `replicasPerMaster` replicas each (`redis-cli --cluster create
 * --cluster-replicas`), no persistence, a short `cluster-node-timeout` so a
 * killed master fails over within a few seconds, and waits until it is
 * healthy. Needs `redis-server` and `redis-cli` 7 on the PATH.
 *
 * @example
 * const cluster = await startCluster();
 * // REDIS_CLUSTER_NODES=cluster.seeds imrelay gateway …
 * await cluster.stop();
 */
export async function startCluster({
  masters = 3,
  replicasPerMaster = 1,
  nodeTimeoutMs = 1000,
}: {
  masters?: number;
  replicasPerMaster?: number;
  nodeTimeoutMs?: number;
} = {}): Promise<LocalCluster> {
  for (const tool of ["redis-server", "redis-cli"]) {
    if (spawnSync(tool, ["--version"], { stdio: "ignore" }).status !== 0) {
      throw new Error(`the Redis Cluster tests need ${tool} (Redis 7) on the PATH: apt-get install redis-server`);
    }
  }
  const ports = await freeClusterPorts(masters * (1 + replicasPerMaster));
  const root = mkdtempSync(join(tmpdir(), "imrelay-cluster-"));
  const nodes: ClusterNodeProcess[] = [];
  const live = new Map<number, ClusterNodeProcess>();

  const launch = (port: number, dir: string): ChildProcess =>
    spawn(
      "redis-server",
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
        "--cluster-node-timeout",
        String(nodeTimeoutMs),
        "--dir",
        dir,
        "--save",
        "",
        "--appendonly",
        "no",
        // A restarted node resyncs at once instead of after the default 5 s.
        "--repl-diskless-sync-delay",
        "0",
      ],
      { stdio: "ignore" },
    );

  const waitAnswers = async (port: number) => {
    for (let i = 0; i < 100; i++) {
      const probe = new Redis(port, "127.0.0.1", { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: null });
      probe.on("error", () => {});
      try {
        await probe.connect();
        if ((await probe.ping()) === "PONG") return;
      } catch {
      } finally {
        probe.disconnect();
      }
      await sleep(50);
    }
    throw new Error(`redis-server on port ${port} did not start`);
  };

  for (const port of ports) {
    const dir = mkdtempSync(join(root, `${port}-`));
    const node = { port, address: `127.0.0.1:${port}`, dir, child: launch(port, dir) };
    nodes.push(node);
    live.set(port, node);
  }

  const cluster: LocalCluster = {
    nodes,
    seeds: ports.map((p) => `127.0.0.1:${p}`).join(","),
    seedUrls: ports.map((p) => `redis://127.0.0.1:${p}`),
    async describe() {
      for (const node of live.values()) {
        const conn = new Redis(node.port, "127.0.0.1", { maxRetriesPerRequest: 0, retryStrategy: null });
        conn.on("error", () => {});
        try {
          return parseNodes((await conn.cluster("NODES")) as string);
        } catch {
        } finally {
          conn.disconnect();
        }
      }
      throw new Error("no node of the cluster answers");
    },
    async masterOf(slot) {
      const master = (await cluster.describe()).find(
        (n) => n.role === "master" && !n.failed && n.slots.some(([from, to]) => slot >= from && slot <= to),
      );
      if (!master) throw new Error(`no master holds slot ${slot}`);
      return master;
    },
    async waitHealthy(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let why = "";
      while (Date.now() < deadline) {
        why = await healthProblem();
        if (!why) return;
        await sleep(100);
      }
      throw new Error(`the cluster did not become healthy: ${why}`);
    },
    async kill(port, signal = "SIGKILL") {
      const node = live.get(port);
      if (!node) return;
      live.delete(port);
      if (node.child.exitCode !== null || node.child.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        node.child.once("exit", () => resolve());
        node.child.kill(signal);
      });
    },
    async restart(port) {
      const node = nodes.find((n) => n.port === port);
      if (!node) throw new Error(`no node on port ${port}`);
      node.child = launch(port, node.dir);
      live.set(port, node);
      await waitAnswers(port);
    },
    client() {
      return new Cluster(
        ports.map((port) => ({ host: "127.0.0.1", port })),
        { redisOptions: { maxRetriesPerRequest: 3 } },
      );
    },
    node(port) {
      return new Redis(port, "127.0.0.1", { maxRetriesPerRequest: 1 });
    },
    async stop() {
      await Promise.all([...live.keys()].map((port) => cluster.kill(port)));
      rmSync(root, { recursive: true, force: true });
    },
  };

  async function healthProblem(): Promise<string> {
    let view: string | undefined;
    for (const node of live.values()) {
      const conn = new Redis(node.port, "127.0.0.1", { maxRetriesPerRequest: 0, retryStrategy: null });
      conn.on("error", () => {});
      try {
        const info = (await conn.cluster("INFO")) as string;
        if (!/cluster_state:ok/.test(info)) return `${node.address} says the cluster is not ok`;
        const nodesView = parseNodes((await conn.cluster("NODES")) as string);
        if (nodesView.some((n) => n.failed && live.has(n.port)))
          return `${node.address} still marks a live node failed`;
        const masters = nodesView
          .filter((n) => n.role === "master" && n.slots.length > 0)
          .map((n) => n.address)
          .sort()
          .join(",");
        if (view !== undefined && view !== masters) return "the nodes disagree on the masters";
        view = masters;
        const replication = (await conn.info("replication")) as string;
        if (/role:slave/.test(replication) && !/master_link_status:up/.test(replication)) {
          return `${node.address} is not in sync with its master`;
        }
        if (/role:slave/.test(replication) && /master_sync_in_progress:1/.test(replication)) {
          return `${node.address} is still syncing`;
        }
      } catch (err) {
        return `${node.address} does not answer (${(err as Error).message})`;
      } finally {
        conn.disconnect();
      }
    }
    return "";
  }

  try {
    await Promise.all(ports.map(waitAnswers));
    await run("redis-cli", [
      "--cluster",
      "create",
      ...ports.map((p) => `127.0.0.1:${p}`),
      "--cluster-replicas",
      String(replicasPerMaster),
      "--cluster-yes",
    ]);
    await cluster.waitHealthy();
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/**
 * Moves `slots` slots from one master to another with `redis-cli --cluster
 * reshard`, as an operator would, while the cluster serves traffic.
 *
 * @example
 * await reshard(cluster, from.id, to.id, 1000);
 */
export async function reshard(cluster: LocalCluster, fromId: string, toId: string, slots: number): Promise<void> {
  const seed = cluster.seeds.split(",")[0]!;
  await run(
    "redis-cli",
    [
      "--cluster",
      "reshard",
      seed,
      "--cluster-from",
      fromId,
      "--cluster-to",
      toId,
      "--cluster-slots",
      String(slots),
      "--cluster-yes",
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  );
}
