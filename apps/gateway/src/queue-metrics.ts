import type { RedisKeys } from "@imrelay/store";
import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { Gauge, type Registry } from "prom-client";

const STATES = ["waiting", "active", "delayed", "failed"] as const;

/**
 * Queue depths, read from Redis at scrape time (not on the hot path):
 * `imrelay_queue_jobs{state}`, `imrelay_ingest_backlog`, the accepted
 * events the dispatcher has not fanned out yet, and `imrelay_offline_held`,
 * the offlines held inside `presence.offlineGrace` right now (across gateways). A scrape while Redis is down
 * leaves the gauges at their last value rather than failing `/metrics`.
 */
export function registerQueueMetrics(
  registry: Registry,
  { queue, redis, keys }: { queue: Queue; redis: Redis; keys: RedisKeys },
) {
  if (registry.getSingleMetric("imrelay_queue_jobs")) return;
  new Gauge({
    name: "imrelay_queue_jobs",
    help: "Delivery jobs by state (failed = dead letters)",
    labelNames: ["state"] as const,
    registers: [registry],
    async collect() {
      try {
        const counts = await queue.getJobCounts(...STATES);
        for (const state of STATES) this.set({ state }, counts[state] ?? 0);
      } catch {}
    },
  });
  new Gauge({
    name: "imrelay_ingest_backlog",
    help: "Accepted events not yet fanned out to delivery jobs",
    registers: [registry],
    async collect() {
      try {
        this.set(await redis.xlen(keys.ingest));
      } catch {}
    },
  });
  new Gauge({
    name: "imrelay_offline_held",
    help: "Offlines held inside presence.offlineGrace right now, across every gateway",
    registers: [registry],
    async collect() {
      try {
        this.set(await redis.zcard(keys.held));
      } catch {}
    },
  });
}
