import { describe, expect, it } from "vitest";
import { redisKeys } from "../src/keys.js";
import { partitionOf, partitionSlotStart, partitionTags } from "../src/partitions.js";
import { keySlot } from "../src/slot.js";

describe("partition tags", () => {
  it.each([1, 3, 16, 100, 1024])("puts each of %i partitions' tag in its own 1/P of the 16,384 slots", (count) => {
    const tags = partitionTags(count);
    expect(tags).toHaveLength(count);
    tags.forEach((tag, n) => {
      const slot = keySlot(tag);
      expect(slot).toBeGreaterThanOrEqual(partitionSlotStart(n, count));
      expect(slot).toBeLessThan(partitionSlotStart(n + 1, count));
    });
  });

  it("finds the same tags every time (every process must agree)", () => {
    expect(partitionTags(16)).toEqual(partitionTags(16));
    expect(partitionTags(16).slice(0, 4)).toEqual(["p0.41", "p1.42", "p2.3", "p3.0"]);
  });

  it("gives three masters with even slot ranges at least 5 of 16 partitions each", () => {
    const slots = partitionTags(16).map((tag) => keySlot(tag));
    const perMaster = [0, 0, 0];
    for (const slot of slots) perMaster[slot <= 5460 ? 0 : slot <= 10922 ? 1 : 2]! += 1;
    for (const count of perMaster) expect(count).toBeGreaterThanOrEqual(5);
  });

  it("refuses a count it cannot give every partition a slot range for", () => {
    expect(() => partitionTags(0)).toThrow(RangeError);
    expect(() => partitionTags(1025)).toThrow(/from 1 to 1024/);
    expect(() => partitionTags(2.5)).toThrow(RangeError);
  });
});

describe("a user's partition", () => {
  it("is stable, and tells tenant and user apart", () => {
    expect(partitionOf("acme", "alice", 16)).toBe(partitionOf("acme", "alice", 16));
    const splits = new Set(
      [
        ["ab", "c"],
        ["a", "bc"],
      ].map(([t, u]) => partitionOf(t!, u!, 1024)),
    );
    expect(splits.size).toBe(2);
  });

  it("spreads users evenly: every partition within 10 % of the mean over 160,000 users", () => {
    const counts = new Array(16).fill(0) as number[];
    for (let i = 0; i < 160_000; i++) counts[partitionOf("acme", `user${i}`, 16)]! += 1;
    for (const count of counts) expect(Math.abs(count - 10_000)).toBeLessThan(1_000);
  });
});

describe("the key layout", () => {
  it("puts every key of one event (seen, presence, stream, expiry) and its delivery queue in one slot", () => {
    const keys = redisKeys("imrelay", 16);
    for (const userId of ["alice", "bob", "用户", 'a:b"{c}']) {
      const p = keys.partitionOf("acme", userId);
      const slot = keySlot(keys.ingest(p));
      expect(keySlot(keys.presence("acme", userId))).toBe(slot);
      expect(keySlot(keys.seen(p, "evt_123"))).toBe(slot);
      expect(keySlot(keys.expiry(p))).toBe(slot);
      expect(keySlot(`${keys.partitionPrefix(p)}:${keys.deliveryQueue}:wait`)).toBe(slot);
    }
  });

  it("starts every key with the prefix, so a shared Redis keeps relays apart", () => {
    const keys = redisKeys("tenant-a", 4);
    for (const key of [keys.ingest(0), keys.presence("acme", "x"), keys.seen(3, "e"), keys.expiry(2), keys.meta])
      expect(key.startsWith("tenant-a:")).toBe(true);
  });
});
