import type { Request, RequestHandler, Response } from "express";
import type { OpenImAnswer } from "./answer.js";
import { OpenImCallbackError } from "./errors.js";
import { handleCallback, type OpenImCallbackOptions, type OpenImCallbackResult } from "./handle-callback.js";

/** The per-tenant options of `handleCallback`; the middleware supplies `now`. */
export type OpenImTenantOptions = Omit<OpenImCallbackOptions, "now">;

/** Picks the tenant for a request; `undefined` answers 404 UNKNOWN_TENANT. */
export type OpenImTenantResolver = (
  req: Request,
) => OpenImTenantOptions | undefined | Promise<OpenImTenantOptions | undefined>;

interface OpenImWebhookCommonOptions {
  /**
   * Takes the accepted callback's result before OpenIM is answered; store or
   * queue `result.events` here. Called for unrecognized callbacks too (with
   * no events). When it throws or rejects, OpenIM is answered 503
   * STORE_UNAVAILABLE (the error's text is not sent).
   */
  onEvents: (result: OpenImCallbackResult, req: Request) => void | Promise<void>;
  /**
   * The largest body accepted, in bytes; larger answers 413 PAYLOAD_TOO_LARGE.
   * @default 65536
   */
  limitBytes?: number;
}

/** Options of `openImWebhook`: one tenant's options, or a resolver that picks them per request. */
export type OpenImWebhookOptions = OpenImWebhookCommonOptions &
  (OpenImTenantOptions | { resolveTenant: OpenImTenantResolver });

const DEFAULT_LIMIT_BYTES = 64 * 1024;

/**
 * An Express handler for OpenIM's user online / offline / kick-off webhooks.
 * Mount it at both `/openim` (older servers: `?command=`) and
 * `/openim/:command` (v3.8 appends the command to the url). It reads the raw
 * body itself, so no body parser is needed in front of it.
 *
 * @example
 * import express from "express";
 * import { openImWebhook } from "@imrelay/openim-adapter/express";
 *
 * const app = express();
 * app.post(
 *   ["/openim", "/openim/:command"],
 *   openImWebhook({
 *     tenant: "acme",
 *     appId: "acme-openim",
 *     basicAuth: { username: "openim", password: process.env.OPENIM_PASSWORD! },
 *     onEvents: async ({ events }) => { for (const event of events) await store(event); },
 *   }),
 * );
 */
export function openImWebhook(options: OpenImWebhookOptions): RequestHandler {
  const limitBytes = options.limitBytes ?? DEFAULT_LIMIT_BYTES;

  return async (req: Request, res: Response): Promise<void> => {
    const now = Date.now();
    try {
      const tenantOptions = "resolveTenant" in options ? await options.resolveTenant(req) : options;
      if (!tenantOptions) throw new OpenImCallbackError("UNKNOWN_TENANT", "no tenant is configured for this url");

      const body = await rawBody(req, limitBytes);
      const result = handleCallback(
        {
          body,
          path: req.originalUrl.split("?", 1)[0],
          query: req.query as Record<string, unknown>,
          headers: req.headers,
        },
        { tenant: tenantOptions.tenant, appId: tenantOptions.appId, basicAuth: tenantOptions.basicAuth, now },
      );

      try {
        await options.onEvents(result, req);
      } catch {
        // The handler's error may hold connection strings or data; OpenIM only learns that nothing was taken.
        throw new OpenImCallbackError("STORE_UNAVAILABLE", "the callback could not be stored");
      }
      send(res, 200, result.response);
    } catch (err) {
      const error =
        err instanceof OpenImCallbackError
          ? err
          : new OpenImCallbackError("INTERNAL", "internal error", { cause: err });
      send(res, error.status, error.response);
    }
  };
}

function send(res: Response, status: number, answer: OpenImAnswer): void {
  if (res.headersSent) return;
  res.status(status).json(answer);
}

/** The body exactly as received, so nothing a body parser did changes what is parsed. */
async function rawBody(req: Request, limitBytes: number): Promise<string | Uint8Array> {
  const parsed: unknown = req.body;
  if (Buffer.isBuffer(parsed) || typeof parsed === "string") {
    if (Buffer.byteLength(parsed) > limitBytes) throw tooLarge(req, limitBytes);
    return parsed;
  }
  // Something in front already parsed JSON: re-encoding is the best left to read.
  if (parsed !== null && typeof parsed === "object" && req.readableEnded) return JSON.stringify(parsed);

  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limitBytes) throw tooLarge(req, limitBytes);
  if (req.readableEnded) return "";

  return new Promise<Uint8Array>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) {
        cleanup();
        reject(tooLarge(req, limitBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
  });
}

function tooLarge(req: Request, limitBytes: number): OpenImCallbackError {
  // Discard the rest of the upload so the answer can still reach the sender.
  req.resume();
  return new OpenImCallbackError("PAYLOAD_TOO_LARGE", `body is over the ${limitBytes}-byte limit`);
}
