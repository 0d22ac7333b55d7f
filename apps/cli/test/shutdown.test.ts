import { Writable } from "node:stream";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { signalLifecycle } from "../src/shutdown.js";

/** A logger whose lines the test reads. */
function captured() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: "debug" }, stream), lines };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// No process signals are listened for here (`signals: []`): `fail` is what starts the shutdown.
describe("a lifecycle that fails after start-up (Redis holds another layout)", () => {
  it("stops every part, those marked last after the rest, and ends with exit code 1", async () => {
    const { logger, lines } = captured();
    const lifecycle = signalLifecycle({ logger, timeoutMs: 2_000, signals: [] });
    const order: string[] = [];
    lifecycle.add({ name: "redis", last: true, close: async () => void order.push("redis") });
    lifecycle.add({
      name: "worker",
      close: async () => {
        await sleep(50);
        order.push("worker");
      },
    });
    lifecycle.add({ name: "gateway", close: async () => void order.push("gateway") });

    lifecycle.fail("PARTITIONS_MISMATCH");
    expect(lifecycle.stopping).toBe(true);
    expect(await lifecycle.stopped).toBe(1);
    // The worker took longer than the gateway; Redis waited for both.
    expect(order).toEqual(["gateway", "worker", "redis"]);
    expect(lines.find((line) => line.msg === "stopped")).toBeDefined();
    expect(String(lines[0]?.msg)).toMatch(/^PARTITIONS_MISMATCH: shutting down/);
  });

  it("keeps exit code 1 when the failure comes while a shutdown is already under way", async () => {
    const { logger } = captured();
    const lifecycle = signalLifecycle({ logger, timeoutMs: 2_000, signals: [] });
    let closes = 0;
    lifecycle.add({
      name: "gateway",
      close: async () => {
        closes++;
        await sleep(50);
      },
    });
    lifecycle.fail("first");
    // A second failure neither starts a second shutdown nor changes the outcome.
    lifecycle.fail("second");
    expect(await lifecycle.stopped).toBe(1);
    expect(closes).toBe(1);
  });

  it("closes at once a part added after the failure, which has nothing in flight yet", async () => {
    const { logger } = captured();
    const lifecycle = signalLifecycle({ logger, timeoutMs: 2_000, signals: [] });
    lifecycle.fail("PARTITIONS_MISMATCH");
    let closed = false;
    lifecycle.add({
      name: "late worker",
      close: async () => {
        closed = true;
      },
    });
    expect(await lifecycle.stopped).toBe(1);
    expect(closed).toBe(true);
  });

  it("ends with exit code 1 and names what was not finished when a part outlasts the timeout", async () => {
    const { logger, lines } = captured();
    const lifecycle = signalLifecycle({ logger, timeoutMs: 400, signals: [] });
    lifecycle.add({
      name: "worker",
      close: () => new Promise<void>(() => {}),
      abandon: () => ["worker: 2 deliveries left for another worker"],
    });
    lifecycle.fail("PARTITIONS_MISMATCH");
    expect(await lifecycle.stopped).toBe(1);
    const ranOut = lines.find((line) => String(line.msg).startsWith("shutdown ran out of time"));
    expect(ranOut?.unfinished).toEqual(["worker: 2 deliveries left for another worker"]);
  });
});
