import { descriptor as agora } from "@imrelay/agora-adapter";
import type { VendorDescriptor } from "@imrelay/core";
import { descriptor as netease } from "@imrelay/netease-adapter";
import { descriptor as openim } from "@imrelay/openim-adapter";
import { descriptor as tencent } from "@imrelay/tencent-adapter";

/**
 * Every vendor imrelay serves, one line each. The config sections, callback
 * routes, `provider` values, published JSON Schema, metrics labels, log
 * redaction and presence expiry are all derived from this list: adding a
 * vendor is its adapter package and one line here (README "Adding a vendor").
 */
export const VENDORS = [tencent, openim, netease, agora] as const;

/** One of the registered vendors. */
export type RegisteredVendor = (typeof VENDORS)[number];

/** The registered providers' names, in registry order. */
export const PROVIDER_NAMES = VENDORS.map((vendor) => vendor.provider) as [
  RegisteredVendor["provider"],
  ...RegisteredVendor["provider"][],
];

// A provider name is a config key, a path segment and a metrics label: refuse a registry that would collide.
const seen = new Set<string>();
for (const { provider } of VENDORS as readonly VendorDescriptor[]) {
  if (!/^[a-z][a-z0-9]*$/.test(provider) || seen.has(provider)) {
    throw new Error(`vendor registry: provider "${provider}" is not a unique lower-case name`);
  }
  seen.add(provider);
}
