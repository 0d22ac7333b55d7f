import { ReplyError } from "ioredis";

/** Why a write to Redis failed, and whether it may have been applied all the same. */
export interface StoreFailure {
  /** A short reason for the vendor's answer: no addresses, no Redis error text. */
  reason: string;
  /**
   * True when the command may have reached Redis (a timeout, a connection lost
   * after sending): the write may have landed and only its reply was lost.
   */
  mayHaveLanded: boolean;
}

/** ioredis refuses to send when the connection is not ready and its offline queue is off. */
const NOT_SENT = /enableOfflineQueue options is false/;

/**
 * What a failed Redis command says of its write, so the answer to the vendor
 * claims no more than is known: "not queued" only when the command never
 * left this process or Redis answered it with an error.
 *
 * @example
 * const { reason, mayHaveLanded } = describeStoreFailure(err);
 * // a command timeout: { reason: "Redis did not answer in time", mayHaveLanded: true }
 */
export function describeStoreFailure(err: unknown): StoreFailure {
  const message = err instanceof Error ? err.message : "";
  if (NOT_SENT.test(message)) return { reason: "Redis is not connected", mayHaveLanded: false };
  if (err instanceof ReplyError) {
    // Redis ran the command and answered with an error; the ingest script's only
    // stream write is its last step, so nothing reached the stream. The error's
    // first word (OOM, READONLY, ERR) says why without its text.
    const code = /^[A-Z]+/.exec(message)?.[0] ?? "ERR";
    return { reason: `Redis refused the write (${code})`, mayHaveLanded: false };
  }
  if (message === "Command timed out") return { reason: "Redis did not answer in time", mayHaveLanded: true };
  return { reason: "the connection to Redis failed", mayHaveLanded: true };
}
