import { lookupPlatform, type Platform } from "@imrelay/core";

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
  if (typeof name === "string") return lookupPlatform(OPENIM_NAMES, name.toLowerCase());
  return "unknown";
}
