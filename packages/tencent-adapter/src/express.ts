import type { Request, RequestHandler, Response } from "express";
import type { TencentAnswer } from "./answer.js";
import { TencentCallbackError } from "./errors.js";
import { handleCallback, type TencentCallbackOptions, type TencentCallbackResult } from "./handle-callback.js";

/** The per-tenant options of `handleCallback`; the middleware supplies `now`. */
export type TencentTenantOptions = Omit<TencentCallbackOptions, "now">;

/** Picks the tenant for a request; `undefined` answers 404 UNKNOWN_TENANT. */
export type TencentTenantResolver = (
  req: Request,
) => TencentTenantOptions | undefined | Promise<TencentTenantOptions | undefined>;

interface TencentWebhookCommonOptions {
  /**
   * Takes the accepted callback's result before Tencent is answered; store or
   * queue `result.events` here (Tencent does not retry this callback, so an
   * event not taken here is lost). Called for unrecognized callbacks too,
   * with no events. When it throws or rejects, Tencent is answered 503
   * STORE_UNAVAILABLE and the error's text is not sent.
   */
  onEvents: (result: TencentCallbackResult, req: Request) => void | Promise<void>;
  /**
   * The largest body accepted, in bytes; larger answers 413 PAYLOAD_TOO_LARGE.
   * @default 65536
   */
  limitBytes?: number;
}

/** Options of `tencentWebhook`: one tenant's options, or `resolveTenant` to pick them per request. */
export type TencentWebhookOptions = TencentWebhookCommonOptions &
  (TencentTenantOptions | { resolveTenant: TencentTenantResolver });

const DEFAULT_LIMIT_BYTES = 64 * 1024;

/**
 * An Express handler for Tencent Cloud IM callbacks. It reads the raw body
 * itself, so no body parser is needed in front of it (one that already ran
 * does no harm: Tencent's `Sign` covers the query, not the body). Every
 * answer, failures included, is Tencent's JSON envelope.
 *
 * @example
 * import express from "express";
 * import { tencentWebhook } from "@imrelay/tencent-adapter/express";
 *
 * const app = express();
 * app.post(
 *   "/tencent",
 *   tencentWebhook({
 *     tenant: "acme",
 *     sdkAppId: "1400000000",
 *     token: process.env.TENCENT_TOKEN,
 *     onEvents: async ({ events }) => { for (const event of events) await store(event); },
 *   }),
 * );
 */
export function tencentWebhook(options: TencentWebhookOptions): RequestHandler {
  const limitBytes = options.limitBytes ?? DEFAULT_LIMIT_BYTES;

  return async (req: Request, res: Response): Promise<void> => {
    const now = Date.now();
    try {
      const tenant = "resolveTenant" in options ? await options.resolveTenant(req) : options;
      if (!tenant) throw new TencentCallbackError("UNKNOWN_TENANT", "no tenant is configured for this URL");

      const body = await rawBody(req, limitBytes);
      const result = handleCallback(
        { body, query: req.query as Record<string, unknown>, headers: req.headers },
        {
          tenant: tenant.tenant,
          sdkAppId: tenant.sdkAppId,
          token: tenant.token,
          now,
          ...(tenant.toleranceSec === undefined ? {} : { toleranceSec: tenant.toleranceSec }),
        },
      );

      try {
        await options.onEvents(result, req);
      } catch {
        // The handler's error may hold connection strings or user data; Tencent only learns nothing was taken.
        throw new TencentCallbackError("STORE_UNAVAILABLE", "the callback could not be stored");
      }
      send(res, 200, result.response);
    } catch (err) {
      const error =
        err instanceof TencentCallbackError
          ? err
          : new TencentCallbackError("INTERNAL", "internal error", { cause: err });
      send(res, error.status, error.response);
    }
  };
}

function send(res: Response, status: number, answer: TencentAnswer): void {
  if (res.headersSent) return;
  res.status(status).json(answer);
}

/** The body as received, read from the stream unless something in front already did. */
async function rawBody(req: Request, limitBytes: number): Promise<string | Uint8Array> {
  const parsed: unknown = req.body;
  if (Buffer.isBuffer(parsed) || typeof parsed === "string") {
    if (Buffer.byteLength(parsed) > limitBytes) throw tooLarge(req, limitBytes);
    return parsed;
  }
  if (parsed !== null && typeof parsed === "object" && req.readableEnded) {
    // A JSON parser consumed the stream; re-encoding is safe because Sign does not cover the body.
    const text = JSON.stringify(parsed);
    if (Buffer.byteLength(text) > limitBytes) throw tooLarge(req, limitBytes);
    return text;
  }

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
      req.off("close", onClose);
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
    const onClose = () => {
      cleanup();
      reject(new Error("the request closed before its body ended"));
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}

function tooLarge(req: Request, limitBytes: number): TencentCallbackError {
  // Drain the rest of the upload so the answer can still reach the sender.
  req.resume();
  return new TencentCallbackError("PAYLOAD_TOO_LARGE", `body is over the ${limitBytes}-byte limit`);
}
