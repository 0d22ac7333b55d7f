import { describe, expect, it } from "vitest";
import { isoTime, isoTimeMs, vendorTimeMs } from "../src/time.js";

describe("isoTime", () => {
  it("gives each time its own text, whether it was just asked for or not", () => {
    const a = Date.UTC(2025, 6, 2, 7, 0, 0, 123);
    const b = a + 1;
    expect(isoTime(a)).toBe("2025-07-02T07:00:00.123Z");
    expect(isoTime(a)).toBe("2025-07-02T07:00:00.123Z");
    expect(isoTime(b)).toBe("2025-07-02T07:00:00.124Z");
    expect(isoTime(a)).toBe("2025-07-02T07:00:00.123Z");
    expect(isoTime(0)).toBe("1970-01-01T00:00:00.000Z");
  });

  it("throws for a time no Date can hold, every time", () => {
    expect(() => isoTime(Number.NaN)).toThrow(RangeError);
    expect(() => isoTime(Number.NaN)).toThrow(RangeError);
    expect(() => isoTime(8.64e15 + 1)).toThrow(RangeError);
    // The last time a Date holds starts a day: the next ms of that day is none.
    expect(isoTime(8.64e15)).toBe("+275760-09-13T00:00:00.000Z");
    expect(() => isoTime(8.64e15 + 1)).toThrow(RangeError);
    expect(() => isoTime(8.64e15 + 86_399_999)).toThrow(RangeError);
  });
});

describe("vendorTimeMs", () => {
  it("takes ms since the epoch, as a number or digits, and refuses seconds and garbage", () => {
    expect(vendorTimeMs(1629883332497)).toBe(1629883332497);
    expect(vendorTimeMs("1629883332497")).toBe(1629883332497);
    expect(vendorTimeMs(1629883332)).toBeUndefined();
    expect(vendorTimeMs("soon")).toBeUndefined();
  });
});

describe("isoTime across days and back", () => {
  it("writes every time as Date does, in the same day, the next, an earlier one, and before 1970", () => {
    const start = Date.UTC(2025, 11, 31, 23, 59, 59, 998);
    const times = [
      start,
      start + 1,
      start + 2, // 2026-01-01T00:00:00.000Z
      start + 3,
      start + 61_234,
      start + 3_600_000 + 7,
      start - 86_400_000 * 400 + 45,
      start + 99,
      Date.UTC(2026, 0, 1, 9, 5, 3, 40),
      Date.UTC(2026, 0, 1, 23, 59, 59, 999),
      -1,
      -86_400_001,
      253402300799999, // 9999-12-31T23:59:59.999Z
      253402300800000, // +010000-01-01
    ];
    for (const ms of times) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    for (let ms = start - 5_000; ms < start + 5_000; ms += 7) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });

  it("parses the times it just wrote back to the same ms, and any other as Date.parse does", () => {
    const occurred = Date.UTC(2026, 2, 4, 5, 6, 7, 8);
    const received = occurred + 1234;
    const a = isoTime(occurred);
    const b = isoTime(received);
    expect(isoTimeMs(a)).toBe(occurred);
    expect(isoTimeMs(b)).toBe(received);
    expect(isoTimeMs("2020-01-02T03:04:05.006Z")).toBe(Date.UTC(2020, 0, 2, 3, 4, 5, 6));
    expect(isoTimeMs("not a time")).toBeNaN();
    // A fraction is cut in the text, and not kept as the time it parses back to.
    const text = isoTime(occurred + 0.5);
    expect(text).toBe(a);
    expect(isoTimeMs(text)).toBe(occurred);
  });
});
