import { describe, expect, it } from "vitest";
import { crc16, keySlot } from "../src/slot.js";

// Each value is what `redis-cli CLUSTER KEYSLOT <key>` answered on a Redis 7 cluster
// (e2e/test/cluster.test.ts checks many more against a live one).
const KEYSLOT: Array<[string, number]> = [
  ["123456789", 12739],
  ["foo", 12182],
  ["somekey", 11058],
  ["{user1000}.following", 3443],
  ["{user1000}.followers", 3443],
  ["foo{}{bar}", 8363],
  ["foo{{bar}}zap", 4015],
  ["foo{bar}{zap}", 5061],
  ["{}", 15257],
  ["{", 4092],
  ["}", 12090],
  ["{}x", 10595],
  ["x{}", 2608],
  ["a{b}c", 3300],
  ["imrelay:{p3.0}:ingest", 3386],
  ["用户:张三", 10642],
  ["é", 10180],
  ["", 0],
];

describe("the hash slot of a key", () => {
  it("is CRC16/XMODEM: 0x31C3 for the specification's test string", () => {
    expect(crc16(Buffer.from("123456789"))).toBe(0x31c3);
  });

  it.each(KEYSLOT)("puts %j in slot %i, as CLUSTER KEYSLOT does", (key, slot) => {
    expect(keySlot(key)).toBe(slot);
  });

  it("hashes only the first non-empty {tag}, so keys sharing it share a slot", () => {
    expect(keySlot("imrelay:{p3.0}:presence:acme:alice")).toBe(keySlot("p3.0"));
    expect(keySlot("other:{p3.0}:deliveries:wait")).toBe(keySlot("imrelay:{p3.0}:ingest"));
  });
});
