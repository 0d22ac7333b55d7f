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
 * A check of candidates against the admin token, or undefined when none is
 * configured. The compare is on SHA-256 digests, so it takes the same time
 * whatever the length of the guess.
 *
 * @example
 * const matches = adminTokenMatcher(config.admin.token);
 * matches?.(candidate); // true or false
 */
export function adminTokenMatcher(token: string | undefined): ((candidate: string) => boolean) | undefined {
  if (!token) return undefined;
  const expected = digest(token);
  return (candidate) => timingSafeEqual(digest(candidate), expected);
}

/**
 * Guards admin routes with `Authorization: Bearer <token>`. With no token
 * configured the admin API is off: every admin route answers 404, never open.
 *
 * @example
 * app.get("/v1/deliveries", requireAdmin(config.admin.token), listDeliveries);
 */
export function requireAdmin(token: string | undefined): RequestHandler {
  const matches = adminTokenMatcher(token);
  return (req, res, next) => {
    if (!matches) {
      adminError(res, 404, "NOT_FOUND", "not found (the admin API is off: no admin token is configured)");
      return;
    }
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? "");
    if (!match || !matches(match[1]!)) {
      res.setHeader("www-authenticate", 'Bearer realm="imrelay admin"');
      adminError(res, 401, "UNAUTHORIZED", "a valid admin bearer token is required");
      return;
    }
    next();
  };
}
