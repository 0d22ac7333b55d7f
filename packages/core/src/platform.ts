import type { Platform } from "./event.js";

/**
 * Tencent `OptPlatform` and `KickedDevice[].Platform` names. Tencent sends
 * upper-case `IOS` on State.StateChange and `Mac` or `macOS` depending on the
 * doc's age, so the match is case-insensitive.
 */
const TENCENT_PLATFORMS: Record<string, Platform> = {
  restapi: "rest_api",
  web: "web",
  android: "android",
  ios: "ios",
  windows: "windows",
  mac: "macos",
  macos: "macos",
  ipad: "ipad",
  linux: "linux",
  miniprogram: "mini_program",
  harmonyos: "harmonyos",
  androidpad: "android_pad",
  unknown: "unknown",
};

/** Own keys only: a vendor's "constructor" or "__proto__" must not find Object.prototype's members. */
function lookup(table: Record<string, Platform>, key: string): Platform {
  return Object.hasOwn(table, key) ? table[key]! : "unknown";
}

/** Normalizes a Tencent platform name; anything unknown is `unknown`. */
export function tencentPlatform(name: unknown): Platform {
  if (typeof name !== "string") return "unknown";
  return lookup(TENCENT_PLATFORMS, name.replace(/[\s_-]/g, "").toLowerCase());
}

/**
 * OpenIM `platformID` values, from open-im-server `pkg/common/constant`:
 * 1 IOS, 2 Android, 3 Windows, 4 OSX, 5 Web, 6 MiniWeb, 7 Linux, 8 APad,
 * 9 IPad, 10 Admin, 11 HarmonyOS.
 */
const OPENIM_IDS: Record<number, Platform> = {
  1: "ios",
  2: "android",
  3: "windows",
  4: "macos",
  5: "web",
  6: "mini_program",
  7: "linux",
  8: "android_pad",
  9: "ipad",
  10: "admin",
  11: "harmonyos",
};

const OPENIM_NAMES: Record<string, Platform> = {
  ios: "ios",
  android: "android",
  windows: "windows",
  osx: "macos",
  macos: "macos",
  web: "web",
  miniweb: "mini_program",
  linux: "linux",
  apad: "android_pad",
  ipad: "ipad",
  admin: "admin",
  harmonyos: "harmonyos",
};

/**
 * Normalizes an OpenIM platform: the numeric `platformID` wins, the
 * `platform` name is the fallback (unknown ids arrive with `platform: ""`).
 */
export function openimPlatform(platformId: unknown, name?: unknown): Platform {
  const id = typeof platformId === "string" && platformId.trim() !== "" ? Number(platformId) : platformId;
  if (typeof id === "number" && Object.hasOwn(OPENIM_IDS, id)) return OPENIM_IDS[id]!;
  if (typeof name === "string") return lookup(OPENIM_NAMES, name.toLowerCase());
  return "unknown";
}
