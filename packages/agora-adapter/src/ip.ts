import { isIP } from "node:net";

/**
 * The client's address from the callback's `ip`, which is `IP:port`
 * (`223.71.97.198:52709`): the port is dropped; a bracketed IPv6
 * (`[::1]:5000`) gives the address inside the brackets; a bare IPv6 (more than
 * one `:`) is taken as it is, since its last group cannot be told from a port.
 * `null` when `ip` is absent or is not an IP address.
 *
 * @example
 * clientIpOf("223.71.97.198:52709"); // "223.71.97.198"
 * clientIpOf("[2408:8207::1]:5000"); // "2408:8207::1"
 * clientIpOf(undefined);             // null
 */
export function clientIpOf(ip: unknown): string | null {
  if (typeof ip !== "string") return null;
  const text = ip.trim();
  let address: string;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    address = close === -1 ? "" : text.slice(1, close);
  } else {
    const colon = text.indexOf(":");
    address = colon !== -1 && colon === text.lastIndexOf(":") ? text.slice(0, colon) : text;
  }
  return isIP(address) === 0 ? null : address;
}
