import { findTenant, type ImrelayConfig } from "@imrelay/config";
import { type AdapterEvent, eventId, isoTime, type Platform } from "@imrelay/core";
import type { Ingest, RedisClient } from "@imrelay/store";
import { parseExpiryMember, type RedisKeys } from "@imrelay/store";
import type { Logger } from "pino";
import { findVendor, GATEWAY_VENDORS, type Vendor, vendorSection } from "../callbacks/vendor.js";
import type { GatewayMetrics } from "../metrics.js";
import { partitionSweep } from "./partition-sweep.js";

/** Members taken per read of the expiry set. */
const BATCH = 500;
/** Batches per sweep, so a backlog after downtime drains without starving the event loop. */
const MAX_BATCHES = 20;

export interface ExpirySweeperDeps {
  redis: RedisClient;
  keys: RedisKeys;
  config: Pick<ImrelayConfig, "tenants" | "presence">;
  ingest: Ingest;
  clock: () => number;
  logger: Logger;
  metrics: Pick<GatewayMetrics, "presenceExpired" | "offlineHolds">;
  /** The vendors served. @default the registry's */
  vendors?: readonly Vendor[];
}

export interface ExpirySweeper {
  /** Expires every renewing vendor's presence entry due at `clock()`; resolves with the number of `user.offline` events emitted. */
  sweepOnce(): Promise<number>;
  /** Sweeps every `presence.sweepInterval` until `stop()`. */
  start(): void;
  /** Stops the timer and waits for a sweep in progress. */
  stop(): Promise<void>;
}

/**
 * A vendor that renews (OpenIM) loses offline callbacks when its own gateway
 * restarts, so a presence entry of such a vendor with no online or renewal for
 * `presence.openimExpiry` goes offline by itself. Each due member goes through the same ingest script as a
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
  const vendors = deps.vendors ?? GATEWAY_VENDORS;
  const expiryMs = config.presence.openimExpiry;
  let timer: NodeJS.Timeout | undefined;
  let stopped = true;

  async function expire(p: number, member: string, deadline: number, now: number): Promise<boolean> {
    const entry = parseExpiryMember(member);
    const settings = entry ? findTenant(config, entry.tenant) : undefined;
    const vendor = entry ? findVendor(entry.provider, vendors) : undefined;
    const section = settings && vendor?.presence.renews ? vendorSection(settings, vendor.provider) : undefined;
    if (!entry || !vendor || !section) {
      // Nobody left to tell (the tenant or its vendor section left the config), or not a member
      // this gateway wrote: drop it, so it can never hold up the members due behind it.
      await redis.zrem(keys.expiry(p), member);
      return false;
    }
    const { tenant, userId, provider, platform, device = null } = entry;
    const appId = vendor.appId(section);
    const lastAtMs = deadline - expiryMs;
    const event: AdapterEvent = {
      id: eventId({
        tenant,
        provider,
        appId,
        callback: { expired: member, at: lastAtMs },
      }),
      type: "user.offline",
      tenant,
      provider,
      appId,
      userId,
      status: "offline",
      reason: "expired",
      platform: platform as Platform,
      clientIp: null,
      connectionId: device,
      background: null,
      kickedPlatforms: [],
      customStatus: null,
      occurredAt: isoTime(deadline),
      receivedAt: isoTime(now),
    };
    const { outcome, hold } = await ingest(event, { onlyIfOnlineAt: lastAtMs });
    // An expiry that takes the user's last platform offline is held like any offline (presence.offlineGrace).
    if (outcome === "held") metrics.offlineHolds.inc({ tenant, outcome: "held" });
    else if (hold) metrics.offlineHolds.inc({ tenant, outcome: hold });
    if (outcome !== "queued" && outcome !== "held") return false;
    metrics.presenceExpired.inc({ tenant });
    logger.info(
      { tenant, provider, userId, platform, eventId: event.id, outcome: "expired" },
      `${vendor.displayName} platform expired: no online or renewal in time`,
    );
    return true;
  }

  /** One partition's due members, in batches; each partition has its own expiry set, in its own slot. */
  async function sweepPartition(p: number): Promise<number> {
    let emitted = 0;
    for (let batch = 0; batch < MAX_BATCHES; batch++) {
      const now = clock();
      const due = await redis.zrangebyscore(keys.expiry(p), "-inf", now, "WITHSCORES", "LIMIT", 0, BATCH);
      for (let i = 0; i < due.length; i += 2) {
        if (await expire(p, due[i]!, Number(due[i + 1]), now)) emitted++;
      }
      if (due.length < BATCH * 2) break;
    }
    return emitted;
  }

  const { sweepOnce, idle } = partitionSweep(keys, sweepPartition);

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
      await idle();
    },
  };
}
