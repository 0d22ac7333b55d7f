import { eventSchemas } from "@imrelay/core";
import { PROVIDER_NAMES } from "@imrelay/vendors";
import * as z from "zod";

// The admin API's shapes: the routes validate what they are sent with these, and the
// OpenAPI document (`/v1/openapi.json`, docs/openapi.json) is written from them. An `id`
// in `.meta()` makes a schema a named component of the document.

/** The event model with the registry's provider names as an enum, as the payload's JSON Schema has it. */
const event = eventSchemas(z.enum(PROVIDER_NAMES));

const isoTime = z.iso.datetime({ offset: true });

/** Every admin error: `{ error: { code, message } }`. */
export const AdminErrorBody = z
  .object({
    error: z.object({
      code: z.string().meta({ description: "UPPER_SNAKE error code", examples: ["UNKNOWN_TENANT"] }),
      message: z.string().meta({ description: "what was wrong, without secrets" }),
    }),
  })
  .meta({ id: "Error" });

export const TenantParams = z.object({
  tenant: z.string().meta({ description: "the tenant's name in the config", examples: ["acme"] }),
});

export const EndpointParams = TenantParams.extend({
  endpoint: z.string().meta({ description: "the endpoint's id in the config", examples: ["presence"] }),
});

export const UserParams = TenantParams.extend({
  userId: z.string().meta({ description: "the vendor's user id", examples: ["testuser316"] }),
});

export const DeliveryParams = z.object({
  id: z.string().meta({ description: "the delivery's id: `<event id>.<endpoint id>`" }),
});

/** Users per batch presence query. */
export const PRESENCE_QUERY_MAX = 1000;

export const UserPresence = z
  .object({
    tenant: z.string(),
    userId: z.string(),
    online: z.boolean().meta({ description: "true while at least one platform of any provider is online" }),
    platforms: z.array(event.PresencePlatform).meta({ description: "the platforms online now, oldest first" }),
    sequence: z
      .number()
      .int()
      .min(0)
      .meta({ description: "the user's last event sequence; 0 when the gateway has seen none" }),
  })
  .meta({ id: "UserPresence" });

export const PresenceQueryBody = z.object({
  userIds: z
    .array(z.string().min(1, "a user id is a non-empty string"))
    .max(PRESENCE_QUERY_MAX, `at most ${PRESENCE_QUERY_MAX} userIds per query`)
    .meta({ description: `the users to look up, at most ${PRESENCE_QUERY_MAX}` }),
});

export const PresenceQueryAnswer = z.object({
  users: z
    .record(z.string(), UserPresence)
    .meta({ description: "each asked-for user's presence, by user id (a user never seen is offline, sequence 0)" }),
});

/** The job states the delivery list reads. */
export const DELIVERY_LIST_STATES = ["failed", "delayed", "waiting", "active", "completed"] as const;
/** Deliveries per page at most. */
export const DELIVERY_PAGE_MAX = 500;

export const DeliveryListQuery = z.object({
  state: z
    .enum(DELIVERY_LIST_STATES, { error: `must be one of ${DELIVERY_LIST_STATES.join(", ")}` })
    .default("failed")
    .meta({ description: "which deliveries: `failed` are the dead letters" }),
  tenant: z.string().optional().meta({ description: "only this tenant's" }),
  endpoint: z.string().optional().meta({ description: "only this endpoint id's" }),
  limit: z.coerce
    .number({ error: `must be a whole number, 0-${DELIVERY_PAGE_MAX}` })
    .int(`must be a whole number, 0-${DELIVERY_PAGE_MAX}`)
    .min(0, `must be a whole number, 0-${DELIVERY_PAGE_MAX}`)
    .max(DELIVERY_PAGE_MAX, `must be a whole number, 0-${DELIVERY_PAGE_MAX}`)
    .default(50),
  offset: z.coerce
    .number({ error: "must be a whole number" })
    .int("must be a whole number")
    .min(0, "must be a whole number")
    .max(Number.MAX_SAFE_INTEGER)
    .default(0),
});

const LastResponse = z
  .object({
    status: z.number().int().nullable().meta({ description: "the endpoint's HTTP status; null without an answer" }),
    bodyExcerpt: z.string().nullable().meta({ description: "the first 512 characters of its body" }),
    error: z
      .string()
      .nullable()
      .meta({ description: "HTTP_ERROR, TIMEOUT, DESTINATION_REFUSED, or a system code such as ECONNREFUSED" }),
    attempt: z.number().int().min(1),
    at: isoTime,
  })
  .meta({ id: "LastResponse" });

export const Delivery = z
  .object({
    id: z.string(),
    state: z.enum([
      "completed",
      "failed",
      "active",
      "delayed",
      "prioritized",
      "waiting",
      "waiting-children",
      "unknown",
    ]),
    tenant: z.string(),
    endpointId: z.string(),
    eventId: z.string(),
    eventType: z.string(),
    userId: z.string().nullable(),
    attempts: z.number().int().min(0),
    maxAttempts: z.number().int().min(1),
    failedReason: z.string().nullable().meta({ description: "why the last attempt failed, as the worker said it" }),
    lastResponse: LastResponse.nullable(),
    createdAt: isoTime,
    finishedAt: isoTime.nullable(),
    nextAttemptAt: isoTime.nullable().meta({ description: "when a delayed delivery is tried again" }),
  })
  .meta({ id: "Delivery", description: "one (event, endpoint) delivery, without the endpoint's secret or URL" });

export const DeliveryList = z.object({
  state: z.enum(DELIVERY_LIST_STATES),
  total: z.number().int().min(0).meta({ description: "how many match the filters" }),
  offset: z.number().int().min(0),
  limit: z.number().int().min(0),
  deliveries: z.array(Delivery),
});

export const DeliveryDetail = Delivery.extend({
  event: event.ImrelayEvent.extend({
    raw: z.unknown().optional().meta({ description: "the vendor body and query, for includeRaw endpoints" }),
  }).meta({ description: "the event as delivered" }),
}).meta({ id: "DeliveryDetail" });

export const RecoverBody = z.object({
  since: z
    .string({ error: 'must be {"since": "<ISO time>"}' })
    .refine((value) => Number.isFinite(Date.parse(value)), 'must be {"since": "<ISO time>"}')
    .meta({
      description: "replay the dead letters that failed at or after this time",
      examples: ["2025-01-01T00:00:00Z"],
    }),
});

export const RecoverAnswer = z.object({
  tenant: z.string(),
  endpointId: z.string(),
  since: isoTime,
  retried: z.number().int().min(0).meta({ description: "dead letters queued again" }),
});

/** Why an endpoint is disabled, at most this long. */
export const DISABLE_REASON_MAX = 200;

export const DisableBody = z.object({
  reason: z
    .string()
    .min(1)
    .max(DISABLE_REASON_MAX)
    .optional()
    .meta({ description: "kept with the endpoint's state", examples: ["receiver migrating"] }),
});

export const EndpointState = z
  .object({
    id: z.string(),
    url: z.string().meta({ description: "without its query or credentials" }),
    events: z.union([z.array(z.string()), z.literal("all")]),
    changesOnly: z.boolean(),
    includeRaw: z.boolean(),
    filter: z.record(z.string(), z.unknown()).nullable().meta({ description: "the endpoint's filter, if any" }),
    secrets: z
      .number()
      .int()
      .min(1)
      .meta({ description: "how many secrets each delivery is signed with (2 while one rotates)" }),
    enabled: z.boolean(),
    disabled: z.object({ by: z.enum(["config", "runtime"]), at: z.string().nullable(), reason: z.string() }).nullable(),
  })
  .meta({ id: "EndpointState" });

export const EndpointList = z.object({ tenant: z.string(), endpoints: z.array(EndpointState) });

export const EndpointDisabled = z.object({
  tenant: z.string(),
  endpointId: z.string(),
  enabled: z.literal(false),
  reason: z.string(),
});

export const EndpointEnabled = z.object({
  tenant: z.string(),
  endpointId: z.string(),
  enabled: z.literal(true),
  wasDisabled: z.boolean().meta({ description: "false when it was not disabled at run time" }),
});

/** Unrecognized callbacks listed at most. */
export const UNRECOGNIZED_LIST_MAX = 1000;

export const UnrecognizedQuery = z.object({
  limit: z.coerce
    .number({ error: `must be a whole number, 1-${UNRECOGNIZED_LIST_MAX}` })
    .int(`must be a whole number, 1-${UNRECOGNIZED_LIST_MAX}`)
    .min(1, `must be a whole number, 1-${UNRECOGNIZED_LIST_MAX}`)
    .max(UNRECOGNIZED_LIST_MAX, `must be a whole number, 1-${UNRECOGNIZED_LIST_MAX}`)
    .default(100),
  tenant: z.string().optional().meta({ description: "only this tenant's" }),
});

export const UnrecognizedList = z.object({
  callbacks: z.array(
    z
      .object({
        tenant: z.string().optional(),
        provider: z.string().optional(),
        reason: z.string().optional().meta({ description: "why nothing maps it, e.g. the unknown Action" }),
        receivedAt: z.string().optional(),
        body: z.unknown().optional(),
        query: z.record(z.string(), z.unknown()).optional(),
      })
      .loose()
      .meta({ description: "an authentic callback nothing maps, secrets removed" }),
  ),
});

export const OpenApiAnswer = z
  .object({ openapi: z.string(), info: z.object({ title: z.string(), version: z.string() }).loose() })
  .loose()
  .meta({ description: "this document" });
