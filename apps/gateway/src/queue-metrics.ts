import type { RedisClient, RedisKeys } from "@imrelay/store";
import { allPartitions, countKept } from "@imrelay/store";
import type { Queue } from "bullmq";
import { Gauge, type Registry } from "prom-client";

const STATES = ["waiting", "active", "delayed", "failed"] as const;

/**
 * Queue depths, read from Redis at scrape time (not on the hot path), summed
 * over the partitions: `imrelay_queue_jobs{state}`; `imrelay_batch_jobs{state}`,
 * the batches of slow endpoints' first attempts; `imrelay_ingest_backlog`,
 * the accepted events the dispatcher has not fanned out yet; and
 * `imrelay_offline_held`, the offlines held inside `presence.offlineGrace`
 * right now (across gateways). A scrape while Redis is down leaves the gauges
 * at their last value rather than failing `/metrics`.
 */
export function registerQueueMetrics(
  registry: Registry,
  {
    queues,
    batchQueues = [],
    redis,
    keys,
  }: { queues: readonly Queue[]; batchQueues?: readonly Queue[]; redis: RedisClient; keys: RedisKeys },
) {
  if (registry.getSingleMetric("imrelay_queue_jobs")) return;
  jobCounts(registry, "imrelay_queue_jobs", "Delivery jobs by state (failed = dead letters)", queues);
  jobCounts(
    registry,
    "imrelay_batch_jobs",
    "Batches of slow endpoints' first attempts by state (failed = Redis failed them every time; their deliveries become jobs)",
    batchQueues,
  );
  new Gauge({
    name: "imrelay_ingest_backlog",
    help: "Accepted events not yet fanned out to delivery jobs",
    registers: [registry],
    async collect() {
      try {
        // The stream also holds entries acked and kept for a slow endpoint's batch jobs: not a backlog.
        const lengths = await Promise.all(
          allPartitions(keys).map(async (p) => (await redis.xlen(keys.ingest(p))) - (await countKept(redis, keys, p))),
        );
        this.set(lengths.reduce((a, b) => a + Math.max(0, b), 0));
      } catch {}
    },
  });
  new Gauge({
    name: "imrelay_offline_held",
    help: "Offlines held inside presence.offlineGrace right now, across every gateway",
    registers: [registry],
    async collect() {
      try {
        const held = await Promise.all(allPartitions(keys).map((p) => redis.zcard(keys.held(p))));
        this.set(held.reduce((a, b) => a + b, 0));
      } catch {}
    },
  });
}

/** A gauge of the queues' job counts by state, summed over the partitions. */
function jobCounts(registry: Registry, name: string, help: string, queues: readonly Queue[]): void {
  new Gauge({
    name,
    help,
    labelNames: ["state"] as const,
    registers: [registry],
    async collect() {
      try {
        const counts = await Promise.all(queues.map((queue) => queue.getJobCounts(...STATES)));
        for (const state of STATES)
          this.set(
            { state },
            counts.reduce((sum, c) => sum + (c[state] ?? 0), 0),
          );
      } catch {}
    },
  });
}
