import { lookupPlatform, type Platform } from "@imrelay/core";

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

/** Normalizes a Tencent platform name; anything unknown is `unknown`. */
export function tencentPlatform(name: unknown): Platform {
  if (typeof name !== "string") return "unknown";
  return lookupPlatform(TENCENT_PLATFORMS, name.replace(/[\s_-]/g, "").toLowerCase());
}
