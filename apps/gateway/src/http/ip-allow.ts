import ipaddr from "ipaddr.js";

/** Answers whether an address may call; built once per tenant and provider. */
export type IpAllowList = (ip: string | undefined) => boolean;

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

function parseEntry(entry: string): Range {
  if (entry.includes("/")) return ipaddr.parseCIDR(entry);
  const addr = ipaddr.parse(entry);
  return [addr, addr.kind() === "ipv4" ? 32 : 128];
}

/** `::ffff:10.1.2.3` (how a dual-stack socket reports IPv4 callers) becomes `10.1.2.3`. */
function normalize(addr: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  return addr.kind() === "ipv6" && (addr as ipaddr.IPv6).isIPv4MappedAddress()
    ? (addr as ipaddr.IPv6).toIPv4Address()
    : addr;
}

/**
 * Builds an allow list from `allowIps` entries (single addresses and CIDR
 * ranges, IPv4 or IPv6; IPv4-mapped IPv6 on either side is treated as IPv4).
 * Returns undefined when there is no list: every address may call.
 *
 * @example
 * const allowed = ipAllowList(["10.0.0.0/8", "203.0.113.7"]);
 * allowed?.("::ffff:10.1.2.3"); // true
 */
export function ipAllowList(entries: readonly string[] | undefined): IpAllowList | undefined {
  if (!entries) return undefined;
  const ranges = entries.map((entry) => {
    const [addr, bits] = parseEntry(entry);
    if (addr.kind() === "ipv6" && (addr as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
      return [(addr as ipaddr.IPv6).toIPv4Address(), bits - 96] as Range;
    }
    return [addr, bits] as Range;
  });
  return (ip) => {
    if (!ip || !ipaddr.isValid(ip)) return false;
    const addr = normalize(ipaddr.parse(ip));
    return ranges.some(([range, bits]) => range.kind() === addr.kind() && addr.match(range, bits));
  };
}
