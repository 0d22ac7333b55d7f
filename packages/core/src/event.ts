import * as z from "zod";

/** The event types imrelay delivers. */
export const EVENT_TYPES = ["user.online", "user.offline", "user.status_changed"] as const;
export const EventType = z.enum(EVENT_TYPES);
export type EventType = z.infer<typeof EventType>;

/** The IM vendors imrelay has an adapter for. */
export const PROVIDERS = ["tencent", "openim", "netease", "agora"] as const;
export const Provider = z.enum(PROVIDERS);
export type Provider = z.infer<typeof Provider>;

export const STATUSES = ["online", "offline"] as const;
export const Status = z.enum(STATUSES);
export type Status = z.infer<typeof Status>;

/** Why the user's status changed, normalized across vendors. */
export const REASONS = [
  "login",
  "logout",
  "disconnect",
  "timeout",
  "kicked",
  "expired",
  "custom_status",
  "other",
] as const;
export const Reason = z.enum(REASONS);
export type Reason = z.infer<typeof Reason>;

/** Client platforms, normalized across vendors. */
export const PLATFORMS = [
  "ios",
  "android",
  "web",
  "windows",
  "macos",
  "linux",
  "ipad",
  "android_pad",
  "mini_program",
  "harmonyos",
  "admin",
  "rest_api",
  "unknown",
] as const;
export const Platform = z.enum(PLATFORMS);
export type Platform = z.infer<typeof Platform>;

const isoDateTime = z.iso.datetime({ offset: false });

/*
 * Every object of the event is open (`.loose()`): the model grows by adding
 * fields, and a receiver must ignore fields it does not know, so the
 * published JSON Schema and the types allow additional properties and keep
 * them when parsing. Tests of imrelay's own output use `.strict()` on these
 * schemas, so a field imrelay adds by mistake is still caught.
 */

export const PresencePlatform = z
  .object({
    provider: Provider,
    platform: Platform,
    since: isoDateTime.describe("when this platform came online"),
  })
  .loose();
export type PresencePlatform = z.infer<typeof PresencePlatform>;

export const Presence = z
  .object({
    online: z.boolean().describe("true while at least one platform of any provider is online"),
    platforms: z.array(PresencePlatform).describe("the platforms online now"),
  })
  .loose()
  .describe("the user's presence across providers and platforms after this event");
export type Presence = z.infer<typeof Presence>;

/**
 * What an adapter produces from one vendor callback: the event without the
 * fields the gateway assigns (`sequence`, `presence`, `changed`, `stale`).
 */
export const AdapterEvent = z
  .object({
    id: z
      .string()
      .regex(/^evt_[0-9a-z]+$/)
      .describe("deterministic: the same vendor callback gives the same id"),
    type: EventType,
    tenant: z.string().min(1),
    provider: Provider,
    appId: z.string().describe("Tencent SdkAppid; OpenIM: the tenant's configured openim.appId"),
    userId: z.string().min(1),
    status: Status.optional().describe("absent on user.status_changed"),
    reason: Reason,
    platform: Platform,
    clientIp: z.string().nullable(),
    connectionId: z.string().nullable().describe("OpenIM connID when non-empty, else null"),
    background: z.boolean().nullable().describe("OpenIM isAppBackground, else null"),
    kickedPlatforms: z.array(Platform).describe("Tencent KickedDevice platforms, normalized"),
    customStatus: z.string().nullable().describe("Tencent CustomStatus, else null"),
    occurredAt: isoDateTime.describe("vendor time (EventTime / seq), else receivedAt"),
    receivedAt: isoDateTime,
    raw: z
      .object({ body: z.unknown(), query: z.record(z.string(), z.unknown()) })
      .loose()
      .optional()
      .describe("the vendor body and query, only for endpoints with includeRaw: true"),
  })
  .loose();
export type AdapterEvent = z.infer<typeof AdapterEvent>;

/** The event as delivered: the adapter's event plus the gateway's fields. */
export const ImrelayEvent = AdapterEvent.extend({
  sequence: z.number().int().positive().describe("per (tenant, userId): strictly increasing, assigned by the gateway"),
  presence: Presence,
  changed: z.boolean().describe("did this event change presence.online?"),
  stale: z.boolean().describe("older than what the gateway already applied for that provider+platform"),
});
export type ImrelayEvent = z.infer<typeof ImrelayEvent>;

/** The JSON body POSTed to a tenant endpoint. */
export const DeliveredPayload = z
  .object({
    type: EventType,
    timestamp: isoDateTime.describe("the event's occurredAt"),
    data: ImrelayEvent,
  })
  .loose()
  .describe("imrelay webhook payload, signed per the Standard Webhooks spec");
export type DeliveredPayload = z.infer<typeof DeliveredPayload>;

/** Wraps an event in the body a tenant endpoint receives. */
export function toPayload(event: ImrelayEvent): DeliveredPayload {
  return { type: event.type, timestamp: event.occurredAt, data: event };
}
