import type { Platform } from "./event.js";

/**
 * Looks a vendor's platform name up in its adapter's table; anything not in
 * it is `unknown`. Own keys only: a vendor's "constructor" or "__proto__"
 * must not find Object.prototype's members.
 *
 * @example
 * lookupPlatform({ aos: "android" }, "aos");         // "android"
 * lookupPlatform({ aos: "android" }, "constructor"); // "unknown"
 */
export function lookupPlatform(table: Readonly<Record<string, Platform>>, key: string | number): Platform {
  return Object.hasOwn(table, key) ? table[key]! : "unknown";
}
