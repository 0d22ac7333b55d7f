import type { ImrelayConfig } from "@imrelay/config";
import { allPartitions, createReleaseHeld, parseHeldMember, type RedisClient, type RedisKeys } from "@imrelay/store";
import type { Logger } from "pino";
import type { GatewayMetrics } from "../metrics.js";
import { partitionSweep } from "./partition-sweep.js";

/** Members taken per read of the held set. */
const BATCH = 500;
/** Batches per sweep, so a backlog after downtime drains without starving the event loop. */
const MAX_BATCHES = 20;
/** The shortest wait between sweeps, however soon the next hold is due. */
const MIN_WAIT_MS = 10;

export interface GraceSweeperDeps {
  redis: RedisClient;
  keys: RedisKeys;
  config: Pick<ImrelayConfig, "presence">;
  clock: () => number;
  logger: Logger;
  metrics: Pick<GatewayMetrics, "offlineHolds">;
}

export interface GraceSweeper {
  /** Releases every held offline whose grace is over at `clock()`; resolves with how many this call released. */
  sweepOnce(): Promise<number>;
  /** Sweeps when the earliest hold is due, and at least every `presence.sweepInterval`, until `stop()`. */
  start(): void;
  /** Stops the timer and waits for a sweep in progress. */
  stop(): Promise<void>;
  /** Says a hold was just made, due at `dueAt` (ms): the next sweep is moved up to then if it was later. */
  wake(dueAt: number): void;
}

/**
 * Releases the offlines held for `presence.offlineGrace` once their grace is
 * over, with `changed: true`. The holds live in Redis (the held set and the
 * user's presence hash), so they outlive the gateway that made them: any
 * gateway releases any hold, and a guarded ZREM inside the release script
 * lets exactly one of them emit it. Runs whatever the grace is now, so holds
 * made before it was turned off still go out.
 *
 * @example
 * const sweeper = createGraceSweeper({ redis, keys, config, clock: Date.now, logger, metrics });
 * sweeper.start();
 * await sweeper.stop();
 */
export function createGraceSweeper(deps: GraceSweeperDeps): GraceSweeper {
  const { redis, keys, config, clock, logger, metrics } = deps;
  const release = createReleaseHeld({ redis, keys });
  let timer: NodeJS.Timeout | undefined;
  /** When the timer set fires, on `clock()`. */
  let timerAt = Number.POSITIVE_INFINITY;
  let stopped = true;

  async function releaseOne(p: number, member: string, now: number): Promise<boolean> {
    const user = parseHeldMember(member);
    if (!user) {
      // Not a member this gateway wrote: drop it, so it can never hold up the members due behind it.
      await redis.zrem(keys.held(p), member);
      return false;
    }
    const { outcome, eventJson } = await release(user, now);
    if (outcome !== "released") return false;
    metrics.offlineHolds.inc({ tenant: user.tenant, outcome: "released" });
    const { id, provider } = JSON.parse(eventJson ?? "{}") as { id?: string; provider?: string };
    logger.info(
      { tenant: user.tenant, provider, userId: user.userId, eventId: id, hold: "released" },
      "offline grace over: the held offline is queued with changed: true",
    );
    return true;
  }

  /** One partition's due holds, in batches; each partition has its own held set, in its own slot. */
  async function sweepPartition(p: number): Promise<number> {
    let released = 0;
    for (let batch = 0; batch < MAX_BATCHES; batch++) {
      const now = clock();
      const due = await redis.zrangebyscore(keys.held(p), "-inf", now, "LIMIT", 0, BATCH);
      for (const member of due) {
        if (await releaseOne(p, member, now)) released++;
      }
      if (due.length < BATCH) break;
    }
    return released;
  }

  const { sweepOnce, idle } = partitionSweep(keys, sweepPartition);

  /** Until the earliest hold is due (another gateway's too), but no longer than sweepInterval. */
  async function nextWait(): Promise<number> {
    const interval = config.presence.sweepInterval;
    const heads = await Promise.all(allPartitions(keys).map((p) => redis.zrange(keys.held(p), 0, 0, "WITHSCORES")));
    const scores = heads.filter((head) => head[1] !== undefined).map((head) => Number(head[1]));
    if (scores.length === 0) return interval;
    return Math.min(interval, Math.max(MIN_WAIT_MS, Math.min(...scores) - clock()));
  }

  function schedule(wait: number) {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timerAt = clock() + wait;
    timer = setTimeout(async () => {
      timer = undefined;
      timerAt = Number.POSITIVE_INFINITY;
      let next = config.presence.sweepInterval;
      try {
        await sweepOnce();
        next = await nextWait();
      } catch (err) {
        logger.warn({ err }, "offline grace sweep failed; retrying at the next interval");
      }
      // A wake() during the sweep may have set a sooner timer already.
      if (!timer || clock() + next < timerAt) schedule(next);
    }, wait);
    timer.unref();
  }

  return {
    sweepOnce,
    start() {
      if (!stopped) return;
      stopped = false;
      // At once: holds made before this gateway started (or while none ran) may be due already.
      schedule(0);
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await idle();
    },
    wake(dueAt) {
      if (stopped || dueAt >= timerAt) return;
      schedule(Math.max(MIN_WAIT_MS, dueAt - clock()));
    },
  };
}
