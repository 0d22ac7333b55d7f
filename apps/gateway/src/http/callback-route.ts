import type { IncomingMessage } from "node:http";
import { parse as parseQuery } from "node:querystring";
import proxyAddr from "proxy-addr";
import { GATEWAY_VENDORS, type Vendor } from "../callbacks/vendor.js";

/** Where a vendor callback goes, read off the request line without a router. */
export interface CallbackRoute {
  provider: string;
  tenant: string;
  /** The path without the query; OpenIM's adapter reads the command from it. */
  path: string;
  query: Record<string, string | string[] | undefined>;
}

/**
 * Builds the matcher of the vendors' callback URLs: `/v1/tenants/:tenant/<provider>`
 * for every vendor, and `…/<provider>/:command` (also `…//:command`: OpenIM v3.8
 * appends the command to the configured url, which may end in a slash) for
 * vendors whose route takes a command segment.
 */
export function callbackRouteMatcher(
  vendors: readonly Pick<Vendor, "provider" | "route">[],
): (req: RequestLine) => CallbackRoute | undefined {
  const names = vendors.map((vendor) => vendor.provider);
  const withCommand = new Set(vendors.filter((vendor) => vendor.route.commandSegment).map((vendor) => vendor.provider));
  // Provider names are lower-case letters and digits (the registry checks): nothing to escape.
  const route = new RegExp(`^/v1/tenants/([^/]+)/(${names.join("|")})(?:/+([^/]+))?/?$`);
  return (req) => {
    if (req.method !== "POST" || !req.url) return undefined;
    const q = req.url.indexOf("?");
    const path = q === -1 ? req.url : req.url.slice(0, q);
    const match = route.exec(path);
    if (!match) return undefined;
    const provider = match[2]!;
    if (match[3] !== undefined && !withCommand.has(provider)) return undefined;
    let tenant: string;
    try {
      tenant = decodeURIComponent(match[1]!);
    } catch {
      return undefined;
    }
    // The same parser as Express 5's default ("simple"): repeated names become arrays.
    const query = q === -1 ? {} : parseQuery(req.url.slice(q + 1));
    return { provider, tenant, path, query };
  };
}

/** The request line's method and target: an `IncomingMessage`, or what was read off a raw packet. */
export interface RequestLine {
  method?: string | undefined;
  url?: string | undefined;
}

/**
 * Matches a vendor callback (`POST` to one of the registered vendors' callback
 * URLs); anything else is undefined and goes to the Express app. The callback
 * routes skip Express's router on purpose: under a reconnect storm it was most
 * of the gateway's CPU per callback (see bench/README.md), and Tencent waits 2 s.
 *
 * @example
 * matchCallbackRoute(req); // { provider: "tencent", tenant: "acme", path: "/v1/tenants/acme/tencent", query: { SdkAppid: "1400000000", … } }
 */
export const matchCallbackRoute = callbackRouteMatcher(GATEWAY_VENDORS);

/** Express's `trust proxy` setting (boolean, hop count, or comma-separated addresses/subnets). */
export type TrustProxy = boolean | number | string;

/**
 * The caller's address as Express's `req.ip` would give it for the same
 * `trust proxy` setting, so `allowIps` means the same on every route.
 *
 * @example
 * const clientIp = clientAddress(config.gateway.trustProxy);
 * clientIp(req); // "203.0.113.7"
 */
export function clientAddress(trustProxy: TrustProxy): (req: IncomingMessage) => string | undefined {
  if (trustProxy === false || trustProxy === 0 || trustProxy === "") return (req) => req.socket.remoteAddress;
  const trust =
    trustProxy === true
      ? () => true
      : typeof trustProxy === "number"
        ? (_addr: string, i: number) => i < trustProxy
        : proxyAddr.compile(trustProxy.split(",").map((entry) => entry.trim()));
  return (req) => proxyAddr(req, trust);
}
