import { bodyText, CallbackError, type Provider } from "@imrelay/core";
import type { RedisClient, RedisKeys } from "@imrelay/store";
import { describeStoreFailure } from "@imrelay/store";

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
export function withoutSecrets(query: Record<string, unknown>, names: readonly string[] = []): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(query).filter(([name]) => !SECRET_PARAM.test(name) && !names.includes(name)),
  );
}

/**
 * The body as JSON when it parses, else as text; without the top-level fields
 * the vendor names as secrets (Agora's `security`).
 */
export function parsedBody(body: Uint8Array, secretFields: readonly string[] = []): unknown {
  const text = bodyText(body);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text;
  }
  if (secretFields.length === 0 || parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
    return parsed;
  return Object.fromEntries(Object.entries(parsed).filter(([name]) => !secretFields.includes(name)));
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
  { redis, keys }: { redis: RedisClient; keys: RedisKeys },
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
