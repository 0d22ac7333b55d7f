import { createHash, timingSafeEqual } from "node:crypto";
import type { RequestHandler, Response } from "express";

/**
 * Answers with the admin API's error body: `{ error: { code, message } }`.
 *
 * @example
 * adminError(res, 404, "UNKNOWN_TENANT", 'no tenant "acme"');
 */
export function adminError(res: Response, status: number, code: string, message: string) {
  res.status(status).json({ error: { code, message } });
}

const digest = (value: string) => createHash("sha256").update(value).digest();

/**
 * Guards admin routes with `Authorization: Bearer <token>`. With no token
 * configured the admin API is off: every admin route answers 404, never open.
 * The compare is on SHA-256 digests, so it takes the same time whatever the
 * length of the guess.
 *
 * @example
 * app.get("/v1/deliveries", requireAdmin(config.admin.token), listDeliveries);
 */
export function requireAdmin(token: string | undefined): RequestHandler {
  const expected = token ? digest(token) : undefined;
  return (req, res, next) => {
    if (!expected) {
      adminError(res, 404, "NOT_FOUND", "not found (the admin API is off: no admin token is configured)");
      return;
    }
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? "");
    if (!match || !timingSafeEqual(digest(match[1]!), expected)) {
      res.setHeader("www-authenticate", 'Bearer realm="imrelay admin"');
      adminError(res, 401, "UNAUTHORIZED", "a valid admin bearer token is required");
      return;
    }
    next();
  };
}
