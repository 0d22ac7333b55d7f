import type { CallbackRequest } from "./adapter.js";
import { CallbackError, type CallbackErrorCode } from "./errors.js";
import { type RawBodyRequest, readRawBody } from "./raw-body.js";

/**
 * A Node request as a framework may have dressed it: Express adds `query`,
 * `path` and `originalUrl`, and a body parser in front may have set `body`.
 */
export type WebhookRequest = RawBodyRequest & { query?: unknown; path?: string; originalUrl?: string };

/** The one thing the handler does with a response; an Express `Response` fits. */
export interface WebhookResponse {
  headersSent: boolean;
  status(code: number): { json(body: unknown): unknown };
}

/** The raw request handed to an adapter's `handleCallback`. */
export interface WebhookCallbackRequest extends CallbackRequest {
  query: Record<string, unknown>;
  headers: Record<string, unknown>;
  /** The path the request was sent to (without the query), as first received even when mounted under a prefix. */
  path: string;
}

/** Picks the tenant for a request; `undefined` answers 404 UNKNOWN_TENANT. */
export type WebhookTenantResolver<Req, Tenant> = (req: Req) => Tenant | undefined | Promise<Tenant | undefined>;

/**
 * The options of a vendor's framework wrapper (`tencentWebhook`,
 * `openImWebhook`): where accepted callbacks go, the body limit, and either
 * one tenant's options or `resolveTenant` to pick them per request.
 */
export type WebhookOptions<Req, Tenant, Result> = {
  /**
   * Takes the accepted callback's result before the vendor is answered; store
   * or queue `result.events` here. Called for unrecognized callbacks too, with
   * no events. When it throws or rejects, the vendor is answered 503
   * STORE_UNAVAILABLE and the error's text is not sent.
   */
  onEvents: (result: Result, req: Req) => void | Promise<void>;
  /**
   * The largest body accepted, in bytes; larger answers 413 PAYLOAD_TOO_LARGE.
   * @default 65536
   */
  limitBytes?: number;
} & (Tenant | { resolveTenant: WebhookTenantResolver<Req, Tenant> });

/** A vendor's subclass of `CallbackError` (`TencentCallbackError`, `OpenImCallbackError`). */
export type VendorErrorClass = new (
  code: CallbackErrorCode,
  message: string,
  options?: { cause?: unknown },
) => CallbackError & { response: unknown };

/** What one vendor adapter supplies to `createWebhookHandler`. */
export interface WebhookHandlerSpec<Req extends WebhookRequest, Tenant, Result extends { response: unknown }> {
  /** Picks the tenant for a request; `undefined` answers 404 UNKNOWN_TENANT. */
  resolveTenant: WebhookTenantResolver<Req, Tenant>;
  /** Runs the adapter on the raw request; throws a `CallbackError` to refuse it. */
  handle: (request: WebhookCallbackRequest, tenant: Tenant, now: number) => Result;
  /**
   * Takes the accepted callback's result before the vendor is answered. When
   * it throws or rejects, the answer is 503 STORE_UNAVAILABLE, without the
   * error's text.
   */
  onEvents: (result: Result, req: Req) => void | Promise<void>;
  /**
   * The vendor's error class, whose `response` is its FAIL envelope: a
   * refusal that is not one already is answered as one, with the same code,
   * status and message.
   */
  vendorError: VendorErrorClass;
  /**
   * The largest body accepted, in bytes; larger answers 413 PAYLOAD_TOO_LARGE.
   * @default 65536
   */
  limitBytes?: number;
  /**
   * The message of the 404 UNKNOWN_TENANT answer.
   * @default "no tenant is configured for this URL"
   */
  unknownTenantMessage?: string;
  /**
   * The clock handed to `handle`, read once when the request arrives.
   * @default Date.now
   */
  clock?: () => number;
}

const DEFAULT_LIMIT_BYTES = 64 * 1024;

/**
 * A `(req, res)` handler for one vendor's callbacks, for Express or anything
 * with the same `res.status(code).json(body)`: picks the tenant, reads the
 * raw body under a limit, runs the adapter, hands the result to `onEvents`,
 * and answers in the vendor's envelope, failures included. A `CallbackError`
 * is answered with its own code and message; anything else as 500 INTERNAL
 * "internal error", so no unexpected text reaches the vendor.
 *
 * @example
 * const handler = createWebhookHandler({
 *   resolveTenant: () => ({ tenant: "acme", token }),
 *   handle: (request, tenant, now) => handleCallback(request, { ...tenant, now }),
 *   onEvents: async ({ events }) => { for (const event of events) await store(event); },
 *   vendorError: AcmeCallbackError,
 * });
 * app.post("/callback", handler);
 */
export function createWebhookHandler<Req extends WebhookRequest, Tenant, Result extends { response: unknown }>(
  spec: WebhookHandlerSpec<Req, Tenant, Result>,
): (req: Req, res: WebhookResponse) => Promise<void> {
  const limitBytes = spec.limitBytes ?? DEFAULT_LIMIT_BYTES;
  const unknownTenantMessage = spec.unknownTenantMessage ?? "no tenant is configured for this URL";
  const clock = spec.clock ?? Date.now;

  return async (req, res) => {
    const now = clock();
    try {
      const tenant = await spec.resolveTenant(req);
      if (!tenant) throw new CallbackError("UNKNOWN_TENANT", unknownTenantMessage);

      const body = await readRawBody(req, limitBytes);
      const result = spec.handle({ body, query: queryOf(req), headers: req.headers, path: pathOf(req) }, tenant, now);

      try {
        await spec.onEvents(result, req);
      } catch (err) {
        // The store's error may hold connection strings or user data; the vendor only learns nothing was taken.
        throw new CallbackError("STORE_UNAVAILABLE", "the callback could not be stored", { cause: err });
      }
      send(res, 200, result.response);
    } catch (err) {
      const answer = asVendorError(err, spec.vendorError);
      send(res, answer.status, answer.response);
    }
  };
}

/** What a vendor adds to a wrapper's `WebhookOptions` to make a handler. */
export type WebhookVendor<Req extends WebhookRequest, Tenant, Result extends { response: unknown }> = Pick<
  WebhookHandlerSpec<Req, Tenant, Result>,
  "handle" | "vendorError" | "unknownTenantMessage" | "clock"
>;

/**
 * `createWebhookHandler` from a framework wrapper's options (one tenant or
 * `resolveTenant`, `onEvents`, `limitBytes`) and the vendor's parts: what
 * `tencentWebhook` and `openImWebhook` are made of.
 *
 * @example
 * export function acmeWebhook(options: WebhookOptions<Request, AcmeTenant, AcmeResult>): RequestHandler {
 *   return createWebhookMiddleware(options, {
 *     handle: (request, tenant: AcmeTenant, now) => handleCallback(request, { ...tenant, now }),
 *     vendorError: AcmeCallbackError,
 *   });
 * }
 */
export function createWebhookMiddleware<
  Req extends WebhookRequest,
  Tenant extends object,
  Result extends { response: unknown },
>(
  options: WebhookOptions<Req, Tenant, Result>,
  vendor: WebhookVendor<Req, Tenant, Result>,
): (req: Req, res: WebhookResponse) => Promise<void> {
  return createWebhookHandler({
    ...vendor,
    resolveTenant: tenantResolver(options),
    onEvents: options.onEvents,
    limitBytes: options.limitBytes,
  });
}

/** The options' `resolveTenant`, or one that always picks the single tenant they hold. */
function tenantResolver<Req, Tenant extends object>(
  options: Tenant | { resolveTenant: WebhookTenantResolver<Req, Tenant> },
): WebhookTenantResolver<Req, Tenant> {
  if ("resolveTenant" in options) {
    const resolving = options;
    return (req) => resolving.resolveTenant(req);
  }
  const single = options;
  return () => single;
}

function asVendorError(err: unknown, VendorError: VendorErrorClass): CallbackError & { response: unknown } {
  if (err instanceof VendorError) return err;
  if (err instanceof CallbackError) return new VendorError(err.code, err.message, { cause: err });
  return new VendorError("INTERNAL", "internal error", { cause: err });
}

function send(res: WebhookResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.status(status).json(body);
}

function queryOf(req: WebhookRequest): Record<string, unknown> {
  if (req.query !== null && typeof req.query === "object") return req.query as Record<string, unknown>;
  // Without a framework, the query is still in the url; repeated names become arrays, as Express has them.
  const query: Record<string, unknown> = {};
  for (const [name, value] of new URLSearchParams(searchOf(req.url ?? ""))) {
    const seen = query[name];
    query[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return query;
}

function pathOf(req: WebhookRequest): string {
  return (req.originalUrl ?? req.url ?? "").split("?", 1)[0] ?? "";
}

function searchOf(url: string): string {
  const at = url.indexOf("?");
  return at === -1 ? "" : url.slice(at + 1);
}
