import { type DeliveryJobState, deliveryJobId } from "@imrelay/store";
import type { Job } from "bullmq";
import { Registry } from "prom-client";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { addressRange, guardedLookup, isPublicAddress, startWorker } from "../src/index.js";
import {
  captureLogger,
  cleanupPrefix,
  deliveryQueues,
  makeConfig,
  makeEvent,
  newRedis,
  publish,
  REDIS_URL,
  redisKeys,
  type Sink,
  sleep,
  startSink,
  waitFor,
} from "./helpers.js";

const filePrefix = `test-${crypto.randomUUID()}`;
const redis = newRedis();
const stops: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

afterAll(async () => {
  await cleanupPrefix(redis, filePrefix);
  await redis.quit();
});

function lookup(host: string): Promise<{ err: NodeJS.ErrnoException | null; address: unknown }> {
  return new Promise((resolve) => {
    guardedLookup(host, { all: true }, (err, address) => resolve({ err, address }));
  });
}

describe("the SSRF guard", () => {
  it.each([
    ["127.0.0.1", "loopback"],
    ["10.1.2.3", "private"],
    ["172.16.0.1", "private"],
    ["192.168.1.1", "private"],
    ["169.254.169.254", "linkLocal"],
    ["100.64.0.1", "carrierGradeNat"],
    ["224.0.0.1", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["0.0.0.0", "unspecified"],
    ["240.0.0.1", "reserved"],
    ["::1", "loopback"],
    ["::", "unspecified"],
    ["fe80::1", "linkLocal"],
    ["fd00::1", "uniqueLocal"],
    ["ff02::1", "multicast"],
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:10.0.0.1", "private"],
  ])("refuses %s as %s", (address, range) => {
    expect(addressRange(address)).toBe(range);
    expect(isPublicAddress(address)).toBe(false);
  });

  it("lets public unicast addresses through, IPv4-mapped ones too", () => {
    expect(isPublicAddress("93.184.216.34")).toBe(true);
    expect(isPublicAddress("2606:2800:220:1:248:1893:25c8:1946")).toBe(true);
    expect(isPublicAddress("::ffff:93.184.216.34")).toBe(true);
    expect(isPublicAddress("not an address")).toBe(false);
  });

  it("refuses a name that resolves to loopback in the socket's lookup, and hands public addresses through", async () => {
    const refused = await lookup("localhost");
    expect(refused.err?.code).toBe("DESTINATION_REFUSED");
    expect(refused.err?.message).toMatch(/^destination refused: localhost resolves to /);
    const passed = await lookup("93.184.216.34");
    expect(passed.err).toBeNull();
    expect(passed.address).toEqual([{ address: "93.184.216.34", family: 4 }]);
  });

  it("refuses 127.0.0.1, localhost and [::1] destinations when private networks are not allowed, and nothing reaches the sink", async () => {
    const prefix = `${filePrefix}:refuse`;
    const keys = redisKeys(prefix);
    const sink: Sink = await startSink();
    stops.push(() => sink.close());
    const config = makeConfig(
      prefix,
      [
        { id: "ipv4", url: `http://127.0.0.1:${sink.port}/hook` },
        { id: "name", url: `http://localhost:${sink.port}/hook?token=abc123` },
        { id: "ipv6", url: `http://[::1]:${sink.port}/hook` },
      ],
      { allowPrivateNetworks: false },
    );
    const { logger, lines } = captureLogger();
    const registry = new Registry();
    const worker = await startWorker({ config, logger, registry, redisUrl: REDIS_URL, dispatcher: { blockMs: 200 } });
    stops.push(() => worker.close());
    const queue = deliveryQueues(redis, keys);
    stops.push(() => queue.close());

    const event = makeEvent();
    await publish(redis, keys, event);
    const jobs: Job<DeliveryJobState>[] = [];
    for (const endpoint of ["ipv4", "name", "ipv6"]) {
      const jobId = deliveryJobId(event.id, endpoint);
      await waitFor(async () => (await queue.getJobState(jobId)) === "failed", { what: `${endpoint} to fail` });
      jobs.push((await queue.getJob(jobId))!);
    }

    for (const job of jobs) {
      expect(job.attemptsMade).toBe(1);
      expect(job.data.lastResponse).toMatchObject({ status: null, error: "DESTINATION_REFUSED" });
      expect(job.failedReason).toMatch(/^destination refused: /);
      expect(job.failedReason).toContain(`(endpoint ${job.data.endpointId})`);
      expect(job.failedReason).not.toContain("abc123");
    }
    expect(jobs[0]!.failedReason).toBe("destination refused: 127.0.0.1 is a loopback address (endpoint ipv4)");
    expect(jobs[1]!.failedReason).toMatch(/^destination refused: localhost resolves to (127\.0\.0\.1|::1), a loopback/);
    expect(jobs[2]!.failedReason).toBe("destination refused: ::1 is a loopback address (endpoint ipv6)");
    await sleep(100);
    expect(sink.requests).toHaveLength(0);
    expect(await registry.metrics()).toContain(
      'imrelay_deliveries_total{tenant="acme",endpoint="name",outcome="refused"} 1',
    );
    expect(JSON.stringify(lines)).not.toContain("abc123");
  });
});
