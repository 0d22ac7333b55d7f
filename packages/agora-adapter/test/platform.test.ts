import { describe, expect, it } from "vitest";
import { agoraPlatform } from "../src/index.js";
import { APP_KEY, accept, sampleWith } from "./helpers.js";

const OS = [
  ["ios", "ios"],
  ["android", "android"],
  ["win", "windows"],
  ["windows", "windows"],
  ["linux", "linux"],
  ["webim", "web"],
  ["web", "web"],
  ["mac", "macos"],
  ["macos", "macos"],
  ["harmony", "harmonyos"],
  ["harmonyos", "harmonyos"],
  ["other", "unknown"],
  ["symbian", "unknown"],
] as const;

describe("platform from os", () => {
  for (const [os, platform] of OS) {
    it(`maps os ${os} to ${platform}`, () => {
      expect(accept(sampleWith({ os })).events[0]?.platform).toBe(platform);
    });
  }

  it("matches os case-insensitively", () => {
    expect(accept(sampleWith({ os: "IOS" })).events[0]?.platform).toBe("ios");
    expect(accept(sampleWith({ os: "WebIM" })).events[0]?.platform).toBe("web");
    expect(accept(sampleWith({ os: "Win" })).events[0]?.platform).toBe("windows");
  });

  it("prefers os to the resource", () => {
    expect(accept(sampleWith({ os: "android", user: `${APP_KEY}_alice/ios_1` })).events[0]?.platform).toBe("android");
    expect(accept(sampleWith({ os: "other", user: `${APP_KEY}_alice/ios_1` })).events[0]?.platform).toBe("unknown");
  });

  it("gives unknown for an os naming an Object.prototype member", () => {
    for (const os of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
      const [event] = accept(sampleWith({ os })).events;
      expect(event?.platform).toBe("unknown");
    }
    expect(agoraPlatform(undefined, "constructor_1")).toBe("unknown");
  });
});

describe("platform from the resource when os is absent", () => {
  const RESOURCES = [
    ["ios_6d580737-db3a-d2b5-da18-b6045ffd195b", "ios"],
    ["android_b069", "android"],
    ["webim_1778336119529", "web"],
    ["win_1", "windows"],
    ["linux_1", "linux"],
    ["Mac_1", "macos"],
    ["harmonyos_1", "harmonyos"],
    ["other_1", "unknown"],
    ["ios", "ios"],
    ["mobile-7", "unknown"],
  ] as const;

  for (const [resource, platform] of RESOURCES) {
    it(`maps resource ${resource} to ${platform}`, () => {
      const [event] = accept(sampleWith({ os: undefined, user: `${APP_KEY}_alice@easemob.com/${resource}` })).events;
      expect(event?.platform).toBe(platform);
    });
  }

  it("treats an empty or non-string os as absent", () => {
    for (const os of ["", " ", null, 3]) {
      expect(accept(sampleWith({ os, user: `${APP_KEY}_alice/android_1` })).events[0]?.platform).toBe("android");
    }
  });

  it("gives unknown with neither os nor resource", () => {
    expect(accept(sampleWith({ os: undefined, user: `${APP_KEY}_alice` })).events[0]?.platform).toBe("unknown");
  });
});
