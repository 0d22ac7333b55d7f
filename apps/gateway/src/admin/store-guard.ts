import type { RedisClient } from "@imrelay/store";
import type { RequestHandler } from "express";
import { adminError } from "./auth.js";

/** What an admin caller reads when Redis is away; the cause stays in the log. */
export const STORE_UNAVAILABLE_MESSAGE = "Redis is unavailable; try again once /readyz answers 200";

// ioredis and BullMQ say "Redis is away" in these words rather than with error classes.
const UNAVAILABLE_MESSAGES = [
  "Connection is closed",
  "Stream isn't writeable",
  "Command timed out",
  "Reached the max retries per request limit",
];
const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);
// Replies of a Redis that is up but cannot serve: still loading, a replica, a cluster without a master.
const UNAVAILABLE_REPLIES = /^(LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|READONLY|BUSY)\b/;

/**
 * Is this error Redis being away (refused, dropped, timed out, not serving)
 * rather than a fault in imrelay? Such errors answer 503, not 500.
 *
 * @example
 * isStoreUnavailable(new Error("Connection is closed.")); // true
 */
export function isStoreUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const { code } = err as NodeJS.ErrnoException;
  if (code && UNAVAILABLE_CODES.has(code)) return true;
  if (err.name === "MaxRetriesPerRequestError" || err.name === "ConnectionClosedError") return true;
  if (UNAVAILABLE_MESSAGES.some((text) => err.message.includes(text))) return true;
  return UNAVAILABLE_REPLIES.test(err.message);
}

/**
 * Answers 503 `STORE_UNAVAILABLE` at once while any of these connections is
 * not ready, instead of letting a route wait on a Redis that is away (BullMQ
 * would wait for it without end). Put it after the admin guard, on routes
 * that read or write Redis.
 *
 * @example
 * app.get("/v1/deliveries", requireAdmin, storeGuard([redis, queueRedis]), listDeliveries);
 */
export function storeGuard(connections: RedisClient[]): RequestHandler {
  return (_req, res, next) => {
    if (connections.every((connection) => connection.status === "ready")) return next();
    adminError(res, 503, "STORE_UNAVAILABLE", STORE_UNAVAILABLE_MESSAGE);
  };
}
