import { describe, expect, it } from "vitest";
import { openimPlatform } from "../src/index.js";

describe("openimPlatform", () => {
  it.each([
    [1, "ios"],
    [2, "android"],
    [3, "windows"],
    [4, "macos"],
    [5, "web"],
    [6, "mini_program"],
    [7, "linux"],
    [8, "android_pad"],
    [9, "ipad"],
    [10, "admin"],
    [11, "harmonyos"],
    ["5", "web"],
  ])("maps platformID %s to %s", (id, expected) => {
    expect(openimPlatform(id)).toBe(expected);
  });

  it("falls back to the platform name, then to unknown", () => {
    expect(openimPlatform(undefined, "OSX")).toBe("macos");
    expect(openimPlatform(99, "")).toBe("unknown");
    expect(openimPlatform(99, "Web")).toBe("web");
  });
});

describe("platform names that are Object.prototype members", () => {
  it.each(["constructor", "__proto__", "toString", "hasOwnProperty"])("maps %s to unknown", (name) => {
    expect(openimPlatform(99, name)).toBe("unknown");
  });
});
