import { describe, expect, it } from "vitest";
import { tencentPlatform } from "../src/index.js";

describe("tencentPlatform", () => {
  it.each([
    ["IOS", "ios"],
    ["iOS", "ios"],
    ["Android", "android"],
    ["Web", "web"],
    ["Windows", "windows"],
    ["Mac", "macos"],
    ["macOS", "macos"],
    ["iPad", "ipad"],
    ["Linux", "linux"],
    ["RESTAPI", "rest_api"],
    ["Unknown", "unknown"],
    ["Symbian", "unknown"],
    [undefined, "unknown"],
  ])("maps %s to %s", (name, expected) => {
    expect(tencentPlatform(name)).toBe(expected);
  });
});

describe("Tencent platform names that are Object.prototype members", () => {
  it.each(["constructor", "__proto__", "toString", "hasOwnProperty"])("maps %s to unknown", (name) => {
    expect(tencentPlatform(name)).toBe("unknown");
  });
});
