import { describe, expect, it } from "vitest";
import { isoTime, vendorTimeMs } from "../src/time.js";

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
