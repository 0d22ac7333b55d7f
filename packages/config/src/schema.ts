import { EVENT_TYPES } from "@imrelay/core";
import ipaddr from "ipaddr.js";
import * as z from "zod";
import { parseDuration } from "./duration.js";

const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: "custom", message: `"${value}" is not a duration (e.g. 500ms, 5s, 30m, 2h)` });
    return z.NEVER;
  }
  return ms;
});

/** How long SIGTERM/SIGINT may take, when the config does not say. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;

/** A duration BullMQ can run on: 0 would mean "never" or "always". */
const positiveDuration = duration.refine((ms) => ms > 0, "must be more than 0");

/** Ids appear in URLs, Redis keys and job ids: keep them plain. */
const id = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "use 1-64 letters, digits, '-' or '_'");

const cidr = z.string().refine(
  (value) => {
    try {
      if (value.includes("/")) ipaddr.parseCIDR(value);
      else ipaddr.parse(value);
      return true;
    } catch {
      return false;
    }
  },
  { message: "not an IP address or CIDR range" },
);

export const EndpointConfig = z
  .object({
    id,
    url: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }),
    secret: z
      .string()
      .regex(/^whsec_[A-Za-z0-9+/=]{16,}$/, "must be a Standard Webhooks secret: whsec_ followed by base64"),
    /** @default all event types */
    events: z.array(z.enum(EVENT_TYPES)).min(1).optional(),
    /** Only events that flip presence.online. @default false */
    changesOnly: z.boolean().default(false),
    /** Add the vendor body and query as `raw`. @default false */
    includeRaw: z.boolean().default(false),
    /** A disabled endpoint receives nothing until enabled again. @default true */
    enabled: z.boolean().default(true),
  })
  .strict();
export type EndpointConfig = z.output<typeof EndpointConfig>;

export const TencentConfig = z
  .object({
    sdkAppId: z.union([z.string(), z.number()]).transform(String),
    /** When set, `Sign` and `RequestTime` are required on every callback. */
    callbackToken: z.string().min(1).optional(),
    allowIps: z.array(cidr).optional(),
  })
  .strict();

export const OpenImConfig = z
  .object({
    appId: z.string().min(1),
    basicAuth: z
      .object({ username: z.string().min(1), password: z.string().min(1) })
      .strict()
      .optional(),
    allowIps: z.array(cidr).optional(),
  })
  .strict();

export const TenantConfig = z
  .object({
    tencent: TencentConfig.optional(),
    openim: OpenImConfig.optional(),
    /** Callbacks per second this tenant may send to one gateway process; unset means no limit. */
    rateLimit: z
      .object({ perSecond: z.number().positive(), burst: z.number().positive().optional() })
      .strict()
      .optional(),
    endpoints: z.array(EndpointConfig).default([]),
  })
  .strict()
  .superRefine((tenant, ctx) => {
    if (!tenant.tencent && !tenant.openim) {
      ctx.addIssue({ code: "custom", message: "a tenant needs a tencent or an openim section" });
    }
    const seen = new Set<string>();
    tenant.endpoints.forEach((endpoint, i) => {
      if (seen.has(endpoint.id)) {
        ctx.addIssue({
          code: "custom",
          path: ["endpoints", i, "id"],
          message: `duplicate endpoint id "${endpoint.id}"`,
        });
      }
      seen.add(endpoint.id);
    });
  });
export type TenantConfig = z.output<typeof TenantConfig>;

export const ImrelayConfig = z
  .object({
    redis: z
      .object({
        url: z
          .string()
          .regex(/^rediss?:\/\//, "must be a redis:// or rediss:// URL")
          .default("redis://127.0.0.1:6379"),
        /** Prefix of every key imrelay writes. @default "imrelay" */
        prefix: z
          .string()
          .regex(/^[A-Za-z0-9_.:-]+$/)
          .default("imrelay"),
      })
      .strict()
      .prefault({}),
    gateway: z
      .object({
        port: z.coerce.number().int().min(0).max(65535).default(8080),
        host: z.string().default("0.0.0.0"),
        /** Largest callback body accepted. @default 64kb */
        bodyLimitBytes: z
          .number()
          .int()
          .positive()
          .default(64 * 1024),
        /** Express `trust proxy`, for allowIps behind a load balancer. @default false */
        trustProxy: z.union([z.boolean(), z.number(), z.string()]).default(false),
      })
      .strict()
      .prefault({}),
    admin: z
      .object({
        // An empty value (`${IMRELAY_ADMIN_TOKEN:-}` with the variable unset) means no token: the admin API is off.
        token: z.preprocess(
          (v) => (v === "" ? undefined : v),
          z.string().min(16, "use at least 16 characters").optional(),
        ),
      })
      .strict()
      .prefault({}),
    tenants: z.record(id, TenantConfig),
    presence: z
      .object({ openimExpiry: duration.default(30 * 60_000), sweepInterval: duration.default(5_000) })
      .strict()
      .prefault({}),
    delivery: z
      .object({
        timeoutMs: z.coerce.number().int().positive().default(15_000),
        retrySchedule: z
          .array(duration)
          .default([5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]),
        allowPrivateNetworks: z.boolean().default(false),
        /** Deliveries in flight per worker process. @default 50 */
        concurrency: z.number().int().positive().default(50),
        /**
         * How long a delivery stays locked to its worker without a renewal (a live worker renews it
         * every lockDuration/4 to /2). A worker that dies keeps its deliveries locked this long at most.
         * @default 30s
         */
        lockDuration: positiveDuration.default(30_000),
        /**
         * How often workers look for deliveries whose lock ran out (their worker died) and hand them
         * to another: a dead worker's delivery is taken over within lockDuration + stalledInterval.
         * @default 5s, or lockDuration when that is shorter
         */
        stalledInterval: positiveDuration.optional(),
      })
      .strict()
      .transform(({ stalledInterval, ...delivery }) => ({
        ...delivery,
        stalledInterval: stalledInterval ?? Math.min(5_000, delivery.lockDuration),
      }))
      .prefault({}),
    /** SIGTERM/SIGINT: the process exits within this, whatever Redis or a receiver does. @default 10000 */
    shutdownTimeoutMs: z.coerce.number().int().positive().default(DEFAULT_SHUTDOWN_TIMEOUT_MS),
  })
  .strict();
export type ImrelayConfig = z.output<typeof ImrelayConfig>;
export type ImrelayConfigInput = z.input<typeof ImrelayConfig>;
