import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions, type LookupOptions } from "node:dns";
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

/** Resolves every address of a name, as `dns.lookup` with `all: true` does. */
export type ResolveAll = (
  hostname: string,
  options: LookupAllOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/**
 * Resolves every address of the name and checks each: the callback gets the
 * whole list only when all of them are public, else a
 * {@link DestinationRefusedError} naming the first that is not.
 */
export function resolvePublic(
  resolve: ResolveAll,
  hostname: string,
  options: LookupOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
): void {
  resolve(hostname, { family: options.family ?? 0, hints: options.hints, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    for (const { address } of addresses) {
      const range = addressRange(address);
      if (range !== "unicast") {
        return callback(new DestinationRefusedError(hostname, address, range) as NodeJS.ErrnoException, []);
      }
    }
    if (addresses.length === 0) {
      return callback(Object.assign(new Error(`no address for ${hostname}`), { code: "ENOTFOUND" }), []);
    }
    callback(null, addresses);
  });
}

/**
 * Answers a socket's lookup with checked addresses: the whole list when it
 * asks for all (Node does when it races IPv4 and IPv6, autoSelectFamily),
 * else the first address and its family.
 */
export function answerLookup(
  options: LookupOptions,
  addresses: readonly LookupAddress[],
  callback: Parameters<LookupFunction>[2],
): void {
  if (options.all) {
    callback(
      null,
      addresses.map((entry) => ({ ...entry })),
    );
    return;
  }
  const first = addresses[0]!;
  callback(null, first.address, first.family);
}

/**
 * A socket `lookup` that resolves every address of the name with `resolve`,
 * refuses the connection if any is not public, and hands the socket exactly
 * the addresses it checked. The check and the connect use one resolution, so a
 * DNS answer that changes in between (rebinding) cannot slip a private address
 * through.
 */
export function guardedLookupWith(resolve: ResolveAll): LookupFunction {
  return (hostname, options, callback) =>
    resolvePublic(resolve, hostname, options, (err, addresses) => {
      if (err) return callback(err, "", 0);
      answerLookup(options, addresses, callback);
    });
}

/** {@link guardedLookupWith} on `node:dns`, asking DNS on every connection (no cache). */
export const guardedLookup: LookupFunction = guardedLookupWith(dnsLookup);
