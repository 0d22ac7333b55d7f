import { describe, expect, it } from "vitest";
import { parsePartitionList } from "../src/partition-list.js";

describe("--partitions", () => {
  it("reads numbers and ranges, sorted and without repeats", () => {
    expect(parsePartitionList("8-10, 0,3,9", 16)).toEqual({ partitions: [0, 3, 8, 9, 10] });
    expect(parsePartitionList("0-15", 16)).toEqual({ partitions: Array.from({ length: 16 }, (_, p) => p) });
  });

  it("says what is wrong with a bad list", () => {
    expect(parsePartitionList("16", 16)).toEqual({ error: "--partitions: 16 is not a partition (they are 0 to 15)" });
    expect(parsePartitionList("4-2", 16)).toEqual({ error: "--partitions: 4-2 runs backwards" });
    expect(parsePartitionList("a", 16)).toEqual({ error: '--partitions: "a" is not a number or a range like 0-7' });
    expect(parsePartitionList("1,,2", 16)).toEqual({ error: '--partitions: "" is not a number or a range like 0-7' });
  });
});
