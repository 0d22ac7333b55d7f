import type { Platform } from "@imrelay/core";

/**
 * NetEase `clientType` names and the numeric codes its page prints beside
 * them. `PC` is the Windows desktop SDK (Mac reports `MAC`); mini programs
 * and Electron apps use the Web SDK and report `WEB`. `WINPHONE` (8) is on
 * older pages only and has no platform of its own. A Map, so a vendor value
 * such as `constructor` or `__proto__` finds nothing.
 */
const CLIENT_TYPES = new Map<string, Platform>([
  ["aos", "android"],
  ["1", "android"],
  ["ios", "ios"],
  ["2", "ios"],
  ["pc", "windows"],
  ["4", "windows"],
  ["web", "web"],
  ["16", "web"],
  ["rest", "rest_api"],
  ["32", "rest_api"],
  ["mac", "macos"],
  ["64", "macos"],
  ["harmony", "harmonyos"],
  ["65", "harmonyos"],
]);

/**
 * Normalizes a NetEase `clientType`, name or number, case-insensitively (the
 * vendor's own page sends `iOS`); absent or unknown is `unknown`.
 *
 * @example
 * neteasePlatform("AOS"); // "android"
 * neteasePlatform(65);    // "harmonyos"
 * neteasePlatform("WINPHONE"); // "unknown"
 */
export function neteasePlatform(clientType: unknown): Platform {
  const key =
    typeof clientType === "string"
      ? clientType.trim().toLowerCase()
      : typeof clientType === "number"
        ? String(clientType)
        : undefined;
  return (key !== undefined && CLIENT_TYPES.get(key)) || "unknown";
}
