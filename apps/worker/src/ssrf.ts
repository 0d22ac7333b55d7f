import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { isIP, type LookupFunction } from "node:net";
import { ImrelayError } from "@imrelay/core";
import ipaddr from "ipaddr.js";

/** Thrown (inside the socket's lookup, or before the request) when a destination is not a public address. */
export class DestinationRefusedError extends ImrelayError<"DESTINATION_REFUSED"> {
  readonly host: string;
  readonly address: string;
  readonly range: string;
  constructor(host: string, address: string, range: string) {
    super(
      "DESTINATION_REFUSED",
      host === address
        ? `destination refused: ${host} is a ${range} address`
        : `destination refused: ${host} resolves to ${address}, a ${range} address`,
    );
    this.host = host;
    this.address = address;
    this.range = range;
  }
}

/**
 * The ipaddr.js range of an address, IPv4-mapped IPv6 (`::ffff:127.0.0.1`)
 * judged as the IPv4 it carries. Only `unicast` is public: loopback, private,
 * linkLocal, uniqueLocal, carrierGradeNat, multicast, broadcast, unspecified,
 * reserved, NAT64/6to4/Teredo (which can tunnel to anything) are not.
 *
 * @example
 * addressRange("10.1.2.3") // "private"
 * addressRange("::ffff:127.0.0.1") // "loopback"
 */
export function addressRange(address: string): string {
  if (!ipaddr.isValid(address)) return "invalid";
  let ip = ipaddr.parse(address);
  if (ip.kind() === "ipv6" && (ip as ipaddr.IPv6).isIPv4MappedAddress()) ip = (ip as ipaddr.IPv6).toIPv4Address();
  return ip.range();
}

/**
 * @example
 * isPublicAddress("93.184.216.34") // true
 * isPublicAddress("169.254.169.254") // false
 */
export function isPublicAddress(address: string): boolean {
  return addressRange(address) === "unicast";
}

/** `[::1]` → `::1`: URL hostnames keep IPv6 brackets. */
export function bareHost(hostname: string): string {
  return hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
}

/**
 * Refuses an IP-literal host that is not public. Names are checked at connect
 * time by {@link guardedLookup}; a literal never goes through a lookup, so it
 * must be checked here.
 */
export function assertPublicIpLiteral(hostname: string): void {
  const host = bareHost(hostname);
  if (isIP(host) === 0) return;
  const range = addressRange(host);
  if (range !== "unicast") throw new DestinationRefusedError(host, host, range);
}

/**
 * The socket's `lookup`: resolves every address of the name, refuses the
 * connection if any is not public, and hands the socket exactly the addresses
 * it checked. The check and the connect use one resolution, so a DNS answer
 * that changes in between (rebinding) cannot slip a private address through.
 */
export const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { family: options.family ?? 0, hints: options.hints, all: true }, (err, addresses) => {
    if (err) return callback(err, "", 0);
    const list = addresses as LookupAddress[];
    for (const { address } of list) {
      const range = addressRange(address);
      if (range !== "unicast") {
        return callback(new DestinationRefusedError(hostname, address, range) as NodeJS.ErrnoException, "", 0);
      }
    }
    const first = list[0];
    if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: "ENOTFOUND" }), "", 0);
    // Node asks for every address when it races IPv4 and IPv6 (autoSelectFamily), else for one.
    if (options.all) return callback(null, list);
    return callback(null, first.address, first.family);
  });
};
