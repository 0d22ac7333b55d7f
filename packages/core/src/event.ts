import * as z from "zod";

/** The event types imrelay delivers. */
export const EVENT_TYPES = ["user.online", "user.offline", "user.status_changed"] as const;
export const EventType = z.enum(EVENT_TYPES);
export type EventType = z.infer<typeof EventType>;

/**
 * A vendor's name (`tencent`, `openim`, `netease`, `agora`, …). The list of
 * vendors is the registry's (`@imrelay/vendors`), not the model's: the
 * published JSON Schema is built with `eventSchemas(z.enum(names))`.
 */
export const Provider = z.string().regex(/^[a-z][a-z0-9]*$/, "a provider name: lower-case letters and digits");
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

/**
 * The event model's schemas for a set of provider names. The model's own
 * exports take any provider name; the registry builds the published JSON
 * Schema with the names of the vendors it lists.
 *
 * @example
 * const { DeliveredPayload } = eventSchemas(z.enum(["tencent", "openim"]));
 */
export function eventSchemas<P extends z.ZodType<string>>(provider: P) {
  const PresencePlatform = z
    .object({
      provider,
      platform: Platform,
      device: z
        .string()
        .nullable()
        .describe("the vendor's device key for vendors that name devices (NetEase, Agora/Easemob), else null"),
      since: isoDateTime.describe("when this platform came online"),
    })
    .loose();

  const Presence = z
    .object({
      online: z.boolean().describe("true while at least one platform of any provider is online"),
      platforms: z.array(PresencePlatform).describe("the platforms online now"),
    })
    .loose()
    .describe("the user's presence across providers and platforms after this event");

  /**
   * What an adapter produces from one vendor callback: the event without the
   * fields the gateway assigns (`sequence`, `presence`, `changed`, `stale`).
   */
  const AdapterEvent = z
    .object({
      id: z
        .string()
        .regex(/^evt_[0-9a-z]+$/)
        .describe("deterministic: the same vendor callback gives the same id"),
      type: EventType,
      tenant: z.string().min(1),
      provider,
      appId: z
        .string()
        .describe(
          "Tencent SdkAppid; OpenIM: the tenant's configured openim.appId; NetEase: the AppKey; Agora/Easemob: the appkey",
        ),
      userId: z.string().min(1),
      status: Status.optional().describe("absent on user.status_changed"),
      reason: Reason,
      platform: Platform,
      clientIp: z.string().nullable(),
      connectionId: z
        .string()
        .nullable()
        .describe(
          "the vendor's device or connection key: OpenIM connID (when non-empty), NetEase deviceId, Agora/Easemob resource; else null",
        ),
      background: z.boolean().nullable().describe("OpenIM isAppBackground, else null"),
      kickedPlatforms: z.array(Platform).describe("Tencent KickedDevice platforms, normalized"),
      customStatus: z.string().nullable().describe("Tencent CustomStatus, else null"),
      occurredAt: isoDateTime.describe("vendor time (EventTime / seq), else receivedAt"),
      receivedAt: isoDateTime,
      raw: z
        .object({ body: z.unknown(), query: z.record(z.string(), z.unknown()) })
        .optional()
        .describe("the vendor body and query, only for endpoints with includeRaw: true"),
    })
    .loose();

  /** The event as delivered: the adapter's event plus the gateway's fields. */
  const ImrelayEvent = AdapterEvent.extend({
    sequence: z
      .number()
      .int()
      .positive()
      .describe("per (tenant, userId): strictly increasing, assigned by the gateway"),
    presence: Presence,
    changed: z.boolean().describe("did this event change presence.online?"),
    stale: z.boolean().describe("older than what the gateway already applied for that provider+platform+device"),
  }).loose();

  /** The JSON body POSTed to a tenant endpoint. */
  const DeliveredPayload = z
    .object({
      type: EventType,
      timestamp: isoDateTime.describe("the event's occurredAt"),
      data: ImrelayEvent,
    })
    .loose()
    .describe("imrelay webhook payload, signed per the Standard Webhooks spec");
  return { PresencePlatform, Presence, AdapterEvent, ImrelayEvent, DeliveredPayload };
}

const schemas = eventSchemas(Provider);
export const PresencePlatform = schemas.PresencePlatform;
export type PresencePlatform = z.infer<typeof PresencePlatform>;
export const Presence = schemas.Presence;
export type Presence = z.infer<typeof Presence>;
/**
 * What an adapter produces from one vendor callback: the event without the
 * fields the gateway assigns (`sequence`, `presence`, `changed`, `stale`).
 */
export const AdapterEvent = schemas.AdapterEvent;
export type AdapterEvent = z.infer<typeof AdapterEvent>;
/** The event as delivered: the adapter's event plus the gateway's fields. */
export const ImrelayEvent = schemas.ImrelayEvent;
export type ImrelayEvent = z.infer<typeof ImrelayEvent>;
/** The JSON body POSTed to a tenant endpoint. */
export const DeliveredPayload = schemas.DeliveredPayload;
export type DeliveredPayload = z.infer<typeof DeliveredPayload>;

/** Wraps an event in the body a tenant endpoint receives. */
export function toPayload(event: ImrelayEvent): DeliveredPayload {
  return { type: event.type, timestamp: event.occurredAt, data: event };
}
