import type { VendorDescriptor } from "@imrelay/core";
import { EVENT_TYPES } from "@imrelay/core";
import { type RegisteredVendor, VENDORS } from "@imrelay/vendors";
import ipaddr from "ipaddr.js";
import * as z from "zod";
import { parseDuration } from "./duration.js";
import { readEnvScalar } from "./env-values.js";
import { compileFilter, filterProblems } from "./filter.js";

const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: "custom", message: `"${value}" is not a duration (e.g. 500ms, 5s, 30m, 2h)` });
    return z.NEVER;
  }
  return ms;
});

/** Where Redis is when the config says nothing. */
export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";
/** How many partitions a relay has when the config does not say. */
export const DEFAULT_PARTITIONS = 16;
/** The most partitions a relay may have (each needs a hash tag found at start-up). */
export const MAX_PARTITIONS = 1024;

const isMapping = (value: unknown) => typeof value === "object" && value !== null && !Array.isArray(value);

function readTrustProxyText(text: string): boolean | number | undefined {
  return readEnvScalar(text, "boolean") ?? readEnvScalar(text, "number");
}

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

/** The highest `endpoints[].rateLimit.perSecond`: the limiter spaces deliveries in whole microseconds. */
export const ENDPOINT_RATE_MAX = 100_000;

/** Secrets one endpoint may list: the new one, the old one, and one more while two rotations overlap. */
export const ENDPOINT_SECRETS_MAX = 3;

const SECRET_FORMAT = "must be a Standard Webhooks secret: whsec_ followed by base64";
const webhookSecret = z
  .string()
  .regex(/^whsec_[A-Za-z0-9+/=]{16,}$/, SECRET_FORMAT)
  // Padded base64 that decodes as written: receivers' `new Webhook(secret)` refuses anything else,
  // and a key they cannot build is a signature they can never check.
  .refine((secret) => {
    const base64 = secret.slice(6);
    return base64.length % 4 === 0 && Buffer.from(base64, "base64").toString("base64") === base64;
  }, SECRET_FORMAT);

/**
 * An endpoint's `filter`, checked as the config loads: an unknown operator or
 * a wrong operand is reported at its own path (`…filter.platform.$inn`).
 */
const eventFilter = z.record(z.string(), z.unknown()).superRefine((filter, ctx) => {
  const problems = filterProblems(filter);
  for (const { path, message } of problems) ctx.addIssue({ code: "custom", path, message });
  if (problems.length > 0) return;
  try {
    compileFilter(filter);
  } catch (err) {
    ctx.addIssue({ code: "custom", message: `is not a valid filter: ${(err as Error).message}` });
  }
});

export const EndpointConfig = z
  .object({
    id,
    url: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }),
    /** One `whsec_` secret, or a list while rotating (`[new, old]`): each delivery carries a signature per secret. */
    secret: z
      .union([webhookSecret, z.array(webhookSecret).min(1, "list at least one secret")], {
        error: "must be a whsec_ secret, or a list of them ([new, old]) while rotating",
      })
      // Checked after the union: inside it, zod would report these as "neither a string nor a list".
      .superRefine((secret, ctx) => {
        if (!Array.isArray(secret)) return;
        if (secret.length > ENDPOINT_SECRETS_MAX) {
          ctx.addIssue({
            code: "custom",
            message: `list at most ${ENDPOINT_SECRETS_MAX} secrets ([new, old] while rotating)`,
          });
        }
        if (new Set(secret).size !== secret.length)
          ctx.addIssue({ code: "custom", message: "the same secret is listed twice" });
      }),
    /** @default all event types */
    events: z.array(z.enum(EVENT_TYPES)).min(1).optional(),
    /** Only events that flip presence.online. @default false */
    changesOnly: z.boolean().default(false),
    /** Add the vendor body and query as `raw`. @default false */
    includeRaw: z.boolean().default(false),
    /** A disabled endpoint receives nothing until enabled again. @default true */
    enabled: z.boolean().default(true),
    /** A MongoDB-style query over the delivered event; events it does not match are not sent. @default none */
    filter: eventFilter.optional(),
    /**
     * Deliveries per second this endpoint receives at most, across all worker processes (Redis keeps
     * the count). Its deliveries over the rate wait in the delayed set, holding no worker slot. @default no limit
     */
    rateLimit: z
      .object({ perSecond: z.number().positive().max(ENDPOINT_RATE_MAX, `at most ${ENDPOINT_RATE_MAX}`) })
      .strict()
      .optional(),
  })
  .strict();
export type EndpointConfig = z.output<typeof EndpointConfig>;

/** `allowIps`, which every vendor's section takes: callers outside it get 403. */
const vendorCommon = { allowIps: z.array(cidr).optional() };

/** Each registered vendor's section, as the tenant config has it: the descriptor's schema plus `allowIps`. */
type VendorSections = {
  [V in RegisteredVendor as V["provider"]]?: z.output<V["section"]> & { allowIps?: string[] | undefined };
};

/** A vendor as the config sees it: its name and its section's schema. */
export type ConfigVendor = Pick<VendorDescriptor<unknown>, "provider" | "section">;

/**
 * The config schema for a list of vendors: one optional section per vendor in
 * each tenant. The registry's list is the default; a test can add a vendor of
 * its own without touching this package.
 */
export function configSchema(vendors: readonly ConfigVendor[] = VENDORS) {
  const names = vendors.map((vendor) => vendor.provider);
  const vendorSections = Object.fromEntries(
    vendors.map((vendor) => [vendor.provider, vendor.section.extend(vendorCommon).optional()]),
  );

  const TenantSchema = z
    .object({
      ...vendorSections,
      /** Callbacks per second this tenant may send to one gateway process; unset means no limit. */
      rateLimit: z
        .object({ perSecond: z.number().positive(), burst: z.number().positive().optional() })
        .strict()
        .optional(),
      endpoints: z.array(EndpointConfig).default([]),
    })
    .strict()
    .superRefine(
      (tenant, ctx) => {
        if (!names.some((provider) => (tenant as Record<string, unknown>)[provider] !== undefined)) {
          ctx.addIssue({ code: "custom", message: `a tenant needs a section for one of: ${names.join(", ")}` });
        }
        const seen = new Set<string>();
        // `endpoints` may hold unparsed entries here: this also runs when a field failed.
        (Array.isArray(tenant.endpoints) ? tenant.endpoints : []).forEach((endpoint: unknown, i) => {
          const endpointId = (endpoint as { id?: unknown } | null)?.id;
          if (typeof endpointId !== "string") return;
          if (seen.has(endpointId)) {
            ctx.addIssue({
              code: "custom",
              path: ["endpoints", i, "id"],
              message: `duplicate endpoint id "${endpointId}"`,
            });
          }
          seen.add(endpointId);
        });
      },
      // Also when a field failed, so the file's every problem is listed at once.
      { when: ({ value }) => isMapping(value) },
    );

  const ImrelayConfig = z
    .object({
      redis: z
        .object({
          /** One Redis node. @default "redis://127.0.0.1:6379" (when `cluster` is not set) */
          url: z
            .string()
            .regex(/^rediss?:\/\//, "must be a redis:// or rediss:// URL")
            .optional(),
          /** A Redis Cluster instead of `url`: its seed nodes (the client learns the rest). */
          cluster: z
            .object({
              nodes: z
                .array(
                  z
                    .string()
                    .regex(
                      /^(rediss?:\/\/([^@/\s]+@)?)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}\/?$/,
                      "must be redis://host:port (or rediss://, or a bare host:port)",
                    ),
                )
                .min(1, "name at least one seed node"),
            })
            .strict()
            .optional(),
          /** Prefix of every key imrelay writes. @default "imrelay" */
          prefix: z
            .string()
            .regex(/^[A-Za-z0-9_.:-]+$/)
            .default("imrelay"),
          /**
           * How many partitions events, presence and delivery queues are spread over;
           * stored at first start, and a different count later is refused. @default 16
           */
          partitions: z.number().int().min(1).max(MAX_PARTITIONS).default(DEFAULT_PARTITIONS),
          /** > 0: a callback is answered 200 only once this many replicas have its event. @default 0 */
          replicaAcks: z.number().int().min(0).max(16).default(0),
        })
        .strict()
        .superRefine((redis, ctx) => {
          if (redis.url !== undefined && redis.cluster !== undefined) {
            ctx.addIssue({
              code: "custom",
              path: ["cluster"],
              message: "set redis.url (one node) or redis.cluster.nodes (a cluster), not both",
            });
          }
        })
        .transform((redis) => (redis.cluster ? redis : { ...redis, url: redis.url ?? DEFAULT_REDIS_URL }))
        .prefault({}),
      gateway: z
        .object({
          port: z.number().int().min(0).max(65535).default(8080),
          host: z.string().default("0.0.0.0"),
          /** Largest callback body accepted. @default 64kb */
          bodyLimitBytes: z
            .number()
            .int()
            .positive()
            .default(64 * 1024),
          /** Express `trust proxy`, for allowIps behind a load balancer. @default false */
          trustProxy: z
            .union([z.boolean(), z.number(), z.string()])
            // A string is a list of addresses for Express, where "true" or "2" would mean nothing and fail at
            // start-up: read them as the boolean or hop count meant (`trustProxy: ${TRUST_PROXY}` gives text).
            .transform((value) => (typeof value === "string" ? (readTrustProxyText(value) ?? value) : value))
            .default(false),
          /** A request whose headers and body have not all arrived within this gets 408. @default 10000 */
          requestTimeoutMs: z.number().int().positive().default(10_000),
          /** A request whose headers have not all arrived within this gets 408. @default requestTimeoutMs */
          headersTimeoutMs: z.number().int().positive().optional(),
          /** An idle keep-alive connection is closed after this. @default 5000 */
          keepAliveTimeoutMs: z.number().int().positive().default(5_000),
          /** Open connections at most; more are dropped (and logged once per burst). @default 10000 */
          maxConnections: z.number().int().positive().default(10_000),
        })
        .strict()
        .superRefine((gateway, ctx) => {
          // Node refuses a headers timeout longer than the request timeout; say so at start-up instead.
          if (gateway.headersTimeoutMs !== undefined && gateway.headersTimeoutMs > gateway.requestTimeoutMs) {
            ctx.addIssue({
              code: "custom",
              path: ["headersTimeoutMs"],
              message: `must not be longer than requestTimeoutMs (${gateway.requestTimeoutMs})`,
            });
          }
        })
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
      tenants: z.record(id, TenantSchema as unknown as z.ZodType<TenantConfig, TenantConfigInput>),
      presence: z
        .object({
          openimExpiry: duration.default(30 * 60_000),
          sweepInterval: duration.default(5_000),
          /**
           * A vendor time further ahead of the gateway's clock than this is taken
           * as the gateway's clock: a vendor with a wrong clock cannot pin presence. @default 5m
           */
          maxClockSkew: duration.default(5 * 60_000),
          /**
           * An event that would take a user's last platform offline is held this long: if the user is
           * back by then, both are delivered with `changed: false`, so a flapping connection never
           * reaches a `changesOnly` endpoint. 0 turns it off. @default 0s
           */
          offlineGrace: duration.default(0),
        })
        .strict()
        .prefault({}),
      delivery: z
        .object({
          timeoutMs: z.number().int().positive().default(15_000),
          retrySchedule: z
            .array(duration)
            .default([5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]),
          allowPrivateNetworks: z.boolean().default(false),
          /**
           * How long a delivery host's resolved and checked addresses are used before the name is
           * resolved (and checked) again; 0 asks DNS on every new connection. @default 30s
           */
          dnsCacheMs: duration.default(30_000),
          /** Deliveries in flight per worker process. @default 50 */
          concurrency: z.number().int().positive().default(50),
          /**
           * Of a worker's first attempts in flight, one endpoint may hold at most this many; its next
           * deliveries wait in the queue meanwhile, so a slow endpoint never stalls the others.
           * @default half of concurrency (at least 1)
           */
          endpointConcurrency: z.number().int().positive().optional(),
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
  return { TenantSchema, ImrelayConfig };
}

const schemas = configSchema();

/** A tenant: a section per vendor it uses (`tencent`, `openim`, …), its endpoints, an optional rate. */
export type TenantConfig = {
  rateLimit?: { perSecond: number; burst?: number | undefined } | undefined;
  endpoints: EndpointConfig[];
} & VendorSections;
/** A tenant as written in the config file. */
export type TenantConfigInput = {
  rateLimit?: { perSecond: number; burst?: number | undefined } | undefined;
  endpoints?: z.input<typeof EndpointConfig>[] | undefined;
} & {
  [V in RegisteredVendor as V["provider"]]?: z.input<V["section"]> & { allowIps?: string[] | undefined };
};
export const TenantConfig = schemas.TenantSchema as unknown as z.ZodType<TenantConfig, TenantConfigInput>;

export const ImrelayConfig = schemas.ImrelayConfig;
export type ImrelayConfig = z.output<typeof ImrelayConfig>;
export type ImrelayConfigInput = z.input<typeof ImrelayConfig>;
