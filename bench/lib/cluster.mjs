import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { start, stop } from "./procs.mjs";

const run = promisify(execFile);

function portFree(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** Consecutive ports below the ephemeral range whose cluster bus ports (+10000) are free too. */
async function clusterPorts(count) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 7000 + Math.floor(Math.random() * 15_000);
    const ports = Array.from({ length: count }, (_, i) => base + i);
    const free = await Promise.all(ports.flatMap((p) => [portFree(p), portFree(p + 10_000)]));
    if (free.every(Boolean)) return ports;
  }
  throw new Error("no free ports for a local Redis cluster");
}

/**
 * A private Redis Cluster for the bench: `masters` masters with even slot
 * ranges (`redis-cli --cluster create`, no replicas, persistence off), with
 * the same handle as `startRedis` (flush, usedMemory, pids) plus what the
 * spread is measured with: per-master commands processed and keys held.
 */
export async function startCluster(masters = 3) {
  const ports = await clusterPorts(masters);
  const root = mkdtempSync(join(tmpdir(), "imrelay-bench-cluster-"));
  const procs = ports.map((port) =>
    start(`redis ${port}`, "redis-server", [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--cluster-enabled",
      "yes",
      "--cluster-config-file",
      `nodes-${port}.conf`,
      "--dir",
      root,
      "--save",
      "",
      "--appendonly",
      "no",
      "--protected-mode",
      "no",
    ]),
  );
  const clients = ports.map((port) => {
    const client = new Redis(port, "127.0.0.1", {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      retryStrategy: () => 100,
    });
    client.on("error", () => {});
    return client;
  });
  for (const client of clients) {
    for (let i = 0; i < 100; i++) {
      try {
        if (client.status !== "ready") await client.connect().catch(() => {});
        if ((await client.ping()) === "PONG") break;
      } catch {}
      await sleep(100);
    }
  }
  await run("redis-cli", ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-yes"]);
  for (let i = 0; i < 100; i++) {
    const infos = await Promise.all(clients.map((c) => c.cluster("INFO").catch(() => "")));
    if (infos.every((info) => /cluster_state:ok/.test(info))) break;
    await sleep(100);
  }
  const version = /redis_version:(\S+)/.exec(await clients[0].info("server"))?.[1];
  const sum = (list) => list.reduce((a, b) => a + b, 0);
  return {
    seeds: ports.map((p) => `127.0.0.1:${p}`).join(","),
    ports,
    pids: procs.map((p) => p.pid),
    version,
    async usedMemory() {
      const texts = await Promise.all(clients.map((c) => c.info("memory")));
      return sum(texts.map((text) => Number(/^used_memory:(\d+)/m.exec(text)?.[1])));
    },
    async flush() {
      await Promise.all(clients.map((c) => c.flushall()));
    },
    /** Commands each master has processed since it started. */
    async commandsProcessed() {
      const texts = await Promise.all(clients.map((c) => c.info("stats")));
      return texts.map((text) => Number(/^total_commands_processed:(\d+)/m.exec(text)?.[1]));
    },
    /** Keys each master holds. */
    async keyCounts() {
      return Promise.all(clients.map((c) => c.dbsize()));
    },
    async close() {
      for (const client of clients) client.disconnect();
      await Promise.all(procs.map((proc) => stop(proc)));
      rmSync(root, { recursive: true, force: true });
    },
  };
}
