import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import type { LookupFunction } from "node:net";
import { answerLookup, guardedLookupWith, type ResolveAll, resolvePublic } from "./ssrf.js";

/** How many names the address cache holds at most, when not told. */
export const DEFAULT_ADDRESS_CACHE_ENTRIES = 1_000;

type Waiter = (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void;

export interface GuardedLookupOptions {
  /** How long a checked answer is used before the name is resolved and checked again; 0 caches nothing. */
  ttlMs: number;
  /** Where names are resolved. @default `dns.lookup` from `node:dns` */
  lookup?: ResolveAll;
  /** @default Date.now */
  now?: () => number;
  /** Names held at most; the oldest is dropped to make room. @default 1000 */
  maxEntries?: number;
}

/**
 * A socket `lookup` with the guarantees of {@link guardedLookupWith} (every
 * address of a name is checked before a socket gets any, and the socket gets
 * exactly the checked addresses) that keeps each checked answer for `ttlMs`.
 * Only answers that passed the check are kept: a refusal or a DNS error is
 * asked again by the next connection. Connections to a name whose resolution
 * is under way wait for it instead of asking DNS again.
 *
 * @example
 * const lookup = createGuardedLookup({ ttlMs: 30_000 });
 * new Agent({ connect: { lookup } });
 */
export function createGuardedLookup({
  ttlMs,
  lookup = dnsLookup,
  now = Date.now,
  maxEntries = DEFAULT_ADDRESS_CACHE_ENTRIES,
}: GuardedLookupOptions): LookupFunction {
  if (!(ttlMs > 0)) return guardedLookupWith(lookup);
  const answers = new Map<string, { addresses: LookupAddress[]; expiresAt: number }>();
  const inFlight = new Map<string, Waiter[]>();

  return (hostname, options, callback) => {
    const reply: Waiter = (err, addresses) => {
      if (err) return callback(err, "", 0);
      answerLookup(options, addresses, callback);
    };
    // `all` is left out: the whole list is resolved and checked whatever the socket asks for.
    const key = `${hostname}\u0000${options.family ?? 0}\u0000${options.hints ?? 0}`;
    const cached = answers.get(key);
    if (cached && now() < cached.expiresAt) {
      const { addresses } = cached;
      // As DNS would: the socket hears back after this call returns.
      process.nextTick(() => reply(null, addresses));
      return;
    }

    const waiting = inFlight.get(key);
    if (waiting) {
      waiting.push(reply);
      return;
    }
    const waiters = [reply];
    inFlight.set(key, waiters);
    let settled = false;
    const settle: Waiter = (err, addresses) => {
      if (settled) return;
      settled = true;
      inFlight.delete(key);
      // A name answered again goes to the back of the line; one refused or failing is forgotten.
      answers.delete(key);
      if (!err) {
        if (answers.size >= maxEntries) answers.delete(answers.keys().next().value!);
        answers.set(key, { addresses, expiresAt: now() + ttlMs });
      }
      for (const waiter of waiters) waiter(err, addresses);
    };
    try {
      resolvePublic(lookup, hostname, options, settle);
    } catch (err) {
      // dns.lookup throws on arguments it refuses; the waiters must still hear.
      settle(err as NodeJS.ErrnoException, []);
    }
  };
}
