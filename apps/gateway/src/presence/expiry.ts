import { findTenant, type ImrelayConfig, type RedisKeys } from "@imrelay/config";
import { type AdapterEvent, eventId, isoTime, type Platform } from "@imrelay/core";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Ingest } from "../ingest/ingest.js";
import type { GatewayMetrics } from "../metrics.js";

/** Members taken per read of the expiry set. */
const BATCH = 500;
/** Batches per sweep, so a backlog after downtime drains without starving the event loop. */
const MAX_BATCHES = 20;

export interface ExpirySweeperDeps {
  redis: Redis;
  keys: RedisKeys;
  config: Pick<ImrelayConfig, "tenants" | "presence">;
  ingest: Ingest;
  clock: () => number;
  logger: Logger;
  metrics: Pick<GatewayMetrics, "presenceExpired">;
}

export interface ExpirySweeper {
  /** Expires every OpenIM platform due at `clock()`; resolves with the number of `user.offline` events emitted. */
  sweepOnce(): Promise<number>;
  /** Sweeps every `presence.sweepInterval` until `stop()`. */
  start(): void;
  /** Stops the timer and waits for a sweep in progress. */
  stop(): Promise<void>;
}

/** `[tenant, userId, platform]` of an expiry member (see `expiryMember`); empty when unreadable. */
function parseMember(member: string): string[] {
  try {
    const parts: unknown = JSON.parse(member);
    if (Array.isArray(parts) && parts.length === 3 && parts.every((p) => typeof p === "string")) return parts;
  } catch {}
  return [];
}

/**
 * OpenIM loses offline callbacks when its gateway restarts, so an OpenIM
 * platform with no online or renewal for `presence.openimExpiry` goes offline
 * by itself. Each due member goes through the same ingest script as a
 * callback, with a deterministic event id and a guard on the platform's last
 * online time, so any number of gateways sweeping at once emit one event.
 *
 * @example
 * const sweeper = createExpirySweeper({ redis, keys, config, ingest, clock: Date.now, logger, metrics });
 * sweeper.start();
 * await sweeper.stop();
 */
export function createExpirySweeper(deps: ExpirySweeperDeps): ExpirySweeper {
  const { redis, keys, config, ingest, clock, logger, metrics } = deps;
  const expiryMs = config.presence.openimExpiry;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;
  let stopped = true;

  async function expire(member: string, deadline: number, now: number): Promise<boolean> {
    const [tenant, userId, platform] = parseMember(member);
    const openim = tenant ? findTenant(config, tenant)?.openim : undefined;
    if (!tenant || !userId || !platform || !openim) {
      // Nobody left to tell (the tenant or its OpenIM section left the config), or not a member
      // this gateway wrote: drop it, so it can never hold up the members due behind it.
      await redis.zrem(keys.expiry, member);
      return false;
    }
    const lastAtMs = deadline - expiryMs;
    const event: AdapterEvent = {
      id: eventId({
        tenant,
        provider: "openim",
        appId: openim.appId,
        callback: { expired: member, at: lastAtMs },
      }),
      type: "user.offline",
      tenant,
      provider: "openim",
      appId: openim.appId,
      userId,
      status: "offline",
      reason: "expired",
      platform: platform as Platform,
      clientIp: null,
      connectionId: null,
      background: null,
      kickedPlatforms: [],
      customStatus: null,
      occurredAt: isoTime(deadline),
      receivedAt: isoTime(now),
    };
    const { outcome } = await ingest(event, { onlyIfOnlineAt: lastAtMs });
    if (outcome !== "queued") return false;
    metrics.presenceExpired.inc({ tenant });
    logger.info(
      { tenant, provider: "openim", userId, platform, eventId: event.id, outcome: "expired" },
      "OpenIM platform expired: no online or renewal in time",
    );
    return true;
  }

  async function sweep(): Promise<number> {
    let emitted = 0;
    for (let batch = 0; batch < MAX_BATCHES; batch++) {
      const now = clock();
      const due = await redis.zrangebyscore(keys.expiry, "-inf", now, "WITHSCORES", "LIMIT", 0, BATCH);
      for (let i = 0; i < due.length; i += 2) {
        if (await expire(due[i]!, Number(due[i + 1]), now)) emitted++;
      }
      if (due.length < BATCH * 2) break;
    }
    return emitted;
  }

  function sweepOnce(): Promise<number> {
    // One sweep at a time per process; a caller during a sweep waits for it.
    running ??= sweep().finally(() => {
      running = undefined;
    });
    return running;
  }

  function schedule() {
    if (stopped) return;
    timer = setTimeout(async () => {
      try {
        await sweepOnce();
      } catch (err) {
        logger.warn({ err }, "presence expiry sweep failed; retrying at the next interval");
      }
      schedule();
    }, config.presence.sweepInterval);
    timer.unref();
  }

  return {
    sweepOnce,
    start() {
      if (!stopped) return;
      stopped = false;
      schedule();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running?.catch(() => {});
    },
  };
}
