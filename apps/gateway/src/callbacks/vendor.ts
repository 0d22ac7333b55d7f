import type { TenantConfig } from "@imrelay/config";
import type { VendorDescriptor } from "@imrelay/core";
import { VENDORS } from "@imrelay/vendors";

/** A registered vendor, as the gateway uses it: its section's type no longer matters here. */
// biome-ignore lint/suspicious/noExplicitAny: a list of vendors holds sections of different types; each descriptor checks its own.
export type Vendor = VendorDescriptor<any>;

/** The vendors the gateway serves: the registry's. */
export const GATEWAY_VENDORS: readonly Vendor[] = VENDORS;

/** The vendor of that provider name, own names only. */
export function findVendor(provider: string, vendors: readonly Vendor[] = GATEWAY_VENDORS): Vendor | undefined {
  return vendors.find((vendor) => vendor.provider === provider);
}

/**
 * A tenant's section for a vendor (`tenants.acme.tencent`), or undefined when
 * the tenant does not use that vendor.
 *
 * @example
 * vendorSection(config.tenants.acme!, "tencent")?.allowIps;
 */
export function vendorSection(
  tenant: TenantConfig,
  provider: string,
): ({ allowIps?: string[] | undefined } & Record<string, unknown>) | undefined {
  const section = Object.hasOwn(tenant, provider) ? (tenant as Record<string, unknown>)[provider] : undefined;
  return section !== null && typeof section === "object" ? (section as Record<string, unknown>) : undefined;
}

/**
 * The presence model of a provider among the vendors served, for `createIngest`.
 *
 * @example
 * createIngest({ redis, keys, expiryMs, presenceModel: presenceModelOf(GATEWAY_VENDORS) });
 */
export function presenceModelOf(vendors: readonly Vendor[] = GATEWAY_VENDORS) {
  return (provider: string) => findVendor(provider, vendors)?.presence;
}
