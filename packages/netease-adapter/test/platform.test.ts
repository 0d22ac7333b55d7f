import { PLATFORMS } from "@imrelay/core";
import { describe, expect, it } from "vitest";
import { neteasePlatform } from "../src/index.js";
import { accept, copy } from "./helpers.js";

const TABLE = [
  ["AOS", 1, "android"],
  ["IOS", 2, "ios"],
  ["PC", 4, "windows"],
  ["WEB", 16, "web"],
  ["REST", 32, "rest_api"],
  ["MAC", 64, "macos"],
  ["HARMONY", 65, "harmonyos"],
] as const;

function platformOfCopy(clientType: unknown) {
  return accept({ body: copy({ eventType: "2", accid: "u1", code: 200, clientType }) }).events[0]?.platform;
}

describe("neteasePlatform", () => {
  it.each(TABLE)("maps %s and its code %i to %s, in any case and as a string or a number", (name, code, platform) => {
    for (const value of [
      name,
      name.toLowerCase(),
      name[0] + name.slice(1).toLowerCase(),
      ` ${name} `,
      code,
      `${code}`,
    ]) {
      expect(neteasePlatform(value)).toBe(platform);
      expect(platformOfCopy(value)).toBe(platform);
    }
    expect(PLATFORMS).toContain(platform);
  });

  it("maps iOS as the vendor's page spells it", () => {
    expect(neteasePlatform("iOS")).toBe("ios");
  });

  it.each([
    ["WINPHONE", "WINPHONE"],
    ["Windows Phone's code 8", 8],
    ["an unknown name", "TV"],
    ["an unknown code", 3],
    ["a fraction", 1.5],
    ["absent", undefined],
    ["null", null],
    ["empty", ""],
    ["a boolean", true],
    ["an object", { name: "AOS" }],
    ["an array", ["AOS"]],
    ["constructor", "constructor"],
    ["__proto__", "__proto__"],
    ["toString", "toString"],
    ["hasOwnProperty", "hasOwnProperty"],
    ["valueOf", "valueOf"],
  ])("maps %s to unknown", (_, value) => {
    expect(neteasePlatform(value)).toBe("unknown");
    expect(platformOfCopy(value)).toBe("unknown");
  });
});
