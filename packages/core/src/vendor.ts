import type * as z from "zod";
import type { CallbackResult } from "./adapter.js";

/**
 * How a vendor's callbacks bear on presence. The gateway's one ingest script
 * serves every vendor; these flags are the only differences it knows of.
 */
export interface PresenceModel {
  /**
   * The vendor re-sends `online` for connected platforms as a renewal and can
   * lose offline events (OpenIM): an `online` for an entry already online is a
   * renewal (counted, not delivered), and an entry with no online or renewal
   * for `presence.openimExpiry` goes offline by itself (reason `expired`).
   * Vendors that never renew must not expire: it would take every user offline.
   */
  renews: boolean;
  /**
   * The vendor names devices, several per platform (NetEase `deviceId`,
   * Agora/Easemob resource): the event's `connectionId` is the device key, and
   * presence is kept per (provider, platform, device).
   */
  devices: boolean;
}

/** The raw request as the gateway hands it to a vendor. */
export interface VendorRequest {
  body: Uint8Array;
  query: Record<string, unknown>;
  headers: Record<string, unknown>;
  /** The path without the query (OpenIM reads its command from it). */
  path: string;
}

/** A refusal, in the terms every vendor's failure envelope is built from. */
export interface Refusal {
  status: number;
  code: string;
  message: string;
}

/** What a descriptor's `handle` returns: the adapter's result, plus what the gateway logs. */
export interface VendorResult extends CallbackResult<unknown> {
  /** The vendor's request id, when it sends one (OpenIM `operationID`), for logs. */
  operationId?: string;
}

/**
 * Everything imrelay knows of one IM vendor, exported by its adapter package
 * beside `handleCallback`. The registry (`@imrelay/vendors`) lists the
 * descriptors; the config schema, the event's `provider` values and the
 * published JSON Schema, the callback routes, metrics labels, log redaction
 * and presence expiry are derived from them. Adding a vendor is one adapter
 * package and one line in the registry.
 *
 * @example
 * export const descriptor: VendorDescriptor<TencentSection> = {
 *   provider: "tencent",
 *   displayName: "Tencent Cloud IM",
 *   section: TencentSection,
 *   secrets: { config: ["callbackToken"], query: ["Sign"] },
 *   presence: { renews: false, devices: false },
 *   route: { commandSegment: false },
 *   handle: (request, { tenant, section, now }) => handleCallback(request, { tenant, sdkAppId: section.sdkAppId, token: section.callbackToken, now }),
 *   fail: ({ message }) => failAnswer(message),
 *   appId: (section) => section.sdkAppId,
 *   describe: (section) => `SdkAppid ${section.sdkAppId}, ${section.callbackToken ? "Sign required" : "no Sign check"}`,
 * };
 */
export interface VendorDescriptor<Section = unknown> {
  /**
   * The vendor's name everywhere: the event's `provider`, the tenant's config
   * section, the callback route `/v1/tenants/:tenant/<provider>`, metrics labels.
   * Lower-case letters and digits.
   */
  provider: string;
  /** For people: logs, `check-config`, docs. */
  displayName: string;
  /**
   * The zod schema of the tenant's section for this vendor (without `allowIps`,
   * which the config adds to every vendor's section).
   */
  section: z.ZodObject & z.ZodType<Section>;
  /** Names that hold secrets: never logged, never kept with an unrecognized callback or `raw`. */
  secrets: {
    /** Fields of the config section (and their sub-fields), e.g. `callbackToken`, `basicAuth`. */
    config: readonly string[];
    /** Query parameters, e.g. Tencent's `Sign`. */
    query?: readonly string[];
    /** Headers, e.g. NetEase's `CheckSum`. */
    headers?: readonly string[];
    /** Top-level body fields, e.g. Agora's `security`. */
    body?: readonly string[];
  };
  presence: PresenceModel;
  /** Whether a command may follow the provider in the path (`…/openim/{command}`; also after `//`). */
  route: { commandSegment: boolean };
  /** Verifies and parses one callback (the adapter's `handleCallback`); throws the adapter's `CallbackError`. */
  handle(request: VendorRequest, settings: { tenant: string; section: Section; now: number }): VendorResult;
  /** The vendor's failure envelope, for refusals the gateway makes itself (413, 429, 503, …). */
  fail(refusal: Refusal): unknown;
  /** The `appId` of events the gateway makes itself for this section (presence expiry). */
  appId(section: Section): string;
  /** One line for `imrelay check-config`, without secrets. */
  describe(section: Section): string;
}

/**
 * Declares a descriptor with its section's type checked against its schema.
 *
 * @example
 * export const descriptor = defineVendor({ provider: "tencent", section: TencentSection, … });
 */
export function defineVendor<Section, const P extends string>(
  descriptor: VendorDescriptor<Section> & { provider: P },
): VendorDescriptor<Section> & { provider: P } {
  return descriptor;
}
