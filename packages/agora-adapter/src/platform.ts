import type { Platform } from "@imrelay/core";

/**
 * `os` values and what they mean. Agora Chat documents `ios`, `android`,
 * `win`, `linux` and `other`; Easemob `android`, `ios` and `webim`. The
 * others are spellings SDKs use in resources (`windows`, `web`, `mac`,
 * `macos`, `harmony`, `harmonyos`), though neither vendor documents them.
 */
export const AGORA_OS_PLATFORMS: Readonly<Record<string, Platform>> = Object.freeze({
  ios: "ios",
  android: "android",
  win: "windows",
  windows: "windows",
  linux: "linux",
  webim: "web",
  web: "web",
  mac: "macos",
  macos: "macos",
  harmony: "harmonyos",
  harmonyos: "harmonyos",
});

/**
 * The platform of a login or logout: from `os`, case-insensitively, or, when
 * `os` is absent, from the resource's part before its first `_`
 * (`ios_6d58…` → `ios`, `webim_1778…` → `web`). `other` and anything unknown
 * are `unknown`.
 *
 * @example
 * agoraPlatform("Win");                       // "windows"
 * agoraPlatform(undefined, "webim_1778336119529"); // "web"
 * agoraPlatform("other", "ios_6d58");         // "unknown" (os is present, so the resource is not read)
 */
export function agoraPlatform(os: unknown, resource?: string | null): Platform {
  if (typeof os === "string" && os.trim() !== "") return lookup(os);
  if (resource) {
    const underscore = resource.indexOf("_");
    return lookup(underscore === -1 ? resource : resource.slice(0, underscore));
  }
  return "unknown";
}

/** Own keys only: an `os` of "constructor" or "__proto__" must not find Object.prototype's members. */
function lookup(name: string): Platform {
  const key = name.trim().toLowerCase();
  return Object.hasOwn(AGORA_OS_PLATFORMS, key) ? AGORA_OS_PLATFORMS[key]! : "unknown";
}
