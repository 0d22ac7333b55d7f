import type { RedisKeys } from "@imrelay/config";
import { bodyText, CallbackError, type Provider } from "@imrelay/core";
import type { Redis } from "ioredis";
import { describeStoreFailure } from "../ingest/store-failure.js";

/** How many unrecognized callbacks are kept for inspection. */
export const UNRECOGNIZED_KEEP = 1000;

/** Query parameters that carry credentials or signatures, never stored. */
const SECRET_PARAM = /^(sign|token|password|secret|authorization|signature)$/i;

/**
 * The query without credentials or signatures (Tencent's `Sign`, …).
 *
 * @example
 * withoutSecrets({ SdkAppid: "1400000000", Sign: "17773b…" }); // { SdkAppid: "1400000000" }
 */
export function withoutSecrets(query: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(query).filter(([name]) => !SECRET_PARAM.test(name)));
}

/** The body as JSON when it parses, else as text. */
export function parsedBody(body: Uint8Array): unknown {
  const text = bodyText(body);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export interface UnrecognizedRecord {
  tenant: string;
  provider: Provider;
  reason: string;
  receivedAt: string;
  body: unknown;
  query: Record<string, unknown>;
}

/**
 * Keeps an authentic callback nothing maps (a new Tencent Action, an unknown
 * OpenIM command), newest first, in a capped list, so an operator can see
 * what a vendor started sending. Never queued for delivery.
 *
 * @example
 * await keepUnrecognized({ redis, keys }, { tenant, provider: "tencent", reason: "Action Foo", receivedAt, body, query });
 */
export async function keepUnrecognized(
  { redis, keys }: { redis: Redis; keys: RedisKeys },
  record: UnrecognizedRecord,
): Promise<void> {
  try {
    await redis
      .multi()
      .lpush(keys.unrecognized, JSON.stringify({ ...record, query: withoutSecrets(record.query) }))
      .ltrim(keys.unrecognized, 0, UNRECOGNIZED_KEEP - 1)
      .exec();
  } catch (err) {
    const { reason, mayHaveLanded } = describeStoreFailure(err);
    const kept = mayHaveLanded ? "the callback may or may not have been kept" : "the callback was not kept";
    throw new CallbackError("STORE_UNAVAILABLE", `${reason}: ${kept}`, { cause: err });
  }
}
