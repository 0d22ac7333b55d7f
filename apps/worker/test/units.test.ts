import { parseIngestEntry } from "@imrelay/store";
import { describe, expect, it } from "vitest";
import {
  DeliveryError,
  defaultJitter,
  deliveryBackoff,
  MAX_RETRY_AFTER_MS,
  outcomeOfStatus,
  parseRetryAfter,
} from "../src/index.js";

describe("Retry-After", () => {
  const now = Date.parse("2025-01-01T00:00:00Z");

  it("reads delta-seconds", () => {
    expect(parseRetryAfter("120", now)).toBe(120_000);
  });

  it("reads an HTTP date as the time until it, and a past date as no wait", () => {
    expect(parseRetryAfter("Wed, 01 Jan 2025 00:01:30 GMT", now)).toBe(90_000);
    expect(parseRetryAfter("Tue, 31 Dec 2024 00:00:00 GMT", now)).toBe(0);
  });

  it("caps the wait at 24 hours and ignores what it cannot read", () => {
    expect(parseRetryAfter("999999999", now)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});

describe("the backoff strategy", () => {
  const none = (ms: number) => ms;

  it("waits the schedule's entry for the attempt that failed", () => {
    const backoff = deliveryBackoff([5_000, 300_000, 1_800_000], none);
    expect(backoff(1)).toBe(5_000);
    expect(backoff(2)).toBe(300_000);
    expect(backoff(3)).toBe(1_800_000);
  });

  it("keeps the last step for a replayed job that runs past the schedule", () => {
    expect(deliveryBackoff([5_000, 60_000], none)(7)).toBe(60_000);
  });

  it("applies the injected jitter to the schedule", () => {
    expect(deliveryBackoff([1_000], (ms) => ms * 1.2)(1)).toBe(1_200);
  });

  it("lets Retry-After replace the schedule, without jitter", () => {
    const err = new DeliveryError("HTTP_ERROR", "HTTP 429 from endpoint presence", {
      status: 429,
      retryAfterMs: 7_000,
    });
    expect(deliveryBackoff([50], () => 0)(1, "schedule", err)).toBe(7_000);
  });

  it("jitters by at most 20 % either way", () => {
    for (let i = 0; i < 200; i++) {
      const ms = defaultJitter(10_000);
      expect(ms).toBeGreaterThanOrEqual(8_000);
      expect(ms).toBeLessThanOrEqual(12_000);
    }
  });
});

describe("outcomes", () => {
  it("groups statuses into the metric's outcome labels", () => {
    expect([200, 204, 301, 404, 410, 429, 500, 503].map(outcomeOfStatus)).toEqual([
      "2xx",
      "2xx",
      "error",
      "4xx",
      "4xx",
      "4xx",
      "5xx",
      "5xx",
    ]);
  });
});

describe("ingest entries", () => {
  const event = { id: "evt_1", type: "user.online", tenant: "acme", occurredAt: "2025-01-01T00:00:00.000Z" };

  it("reads the event and its raw copy", () => {
    const raw = { body: { a: 1 }, query: {} };
    expect(parseIngestEntry(["1-0", ["e", JSON.stringify(event), "r", JSON.stringify(raw)]])).toEqual({
      ok: true,
      event,
      raw,
    });
  });

  it("says why an entry cannot be dispatched", () => {
    expect(parseIngestEntry(["1-0", null])).toEqual({ ok: false, reason: "deleted" });
    expect(parseIngestEntry(["1-0", ["x", "y"]])).toEqual({ ok: false, reason: "no event field" });
    expect(parseIngestEntry(["1-0", ["e", "{"]])).toEqual({ ok: false, reason: "event is not JSON" });
    expect(parseIngestEntry(["1-0", ["e", '{"id":"evt_1"}']])).toEqual({
      ok: false,
      reason: "event lacks id, type, tenant or occurredAt",
    });
  });

  it("still delivers an event whose raw copy is unreadable", () => {
    expect(parseIngestEntry(["1-0", ["e", JSON.stringify(event), "r", "{"]])).toEqual({
      ok: true,
      event,
      raw: undefined,
    });
  });
});
