import type { LookupAddress, LookupAllOptions, LookupOptions } from "node:dns";
import type { LookupFunction } from "node:net";
import { describe, expect, it } from "vitest";
import { createGuardedLookup, type ResolveAll } from "../src/index.js";

type Answer = LookupAddress[] | NodeJS.ErrnoException;

/**
 * A resolver answering from `answers` (changeable between lookups) after the
 * current turn, as DNS would; `calls` lists what it was asked.
 */
function fakeDns(answers: Record<string, Answer>) {
  const calls: Array<{ hostname: string; options: LookupAllOptions }> = [];
  const resolve: ResolveAll = (hostname, options, callback) => {
    calls.push({ hostname, options });
    const answer =
      answers[hostname] ?? Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
    setImmediate(() => (Array.isArray(answer) ? callback(null, answer) : callback(answer, [])));
  };
  return { resolve, calls, answers };
}

/** A clock the test moves. */
function clock(start = 1_000_000) {
  const state = { t: start };
  return { now: () => state.t, advance: (ms: number) => (state.t += ms) };
}

interface LookupResult {
  err: NodeJS.ErrnoException | null;
  address: string | LookupAddress[];
  family: number | undefined;
}

function ask(lookup: LookupFunction, hostname: string, options: LookupOptions = { all: true }): Promise<LookupResult> {
  return new Promise((resolve) =>
    lookup(hostname, options, (err, address, family) => resolve({ err, address, family })),
  );
}

const v4 = (address: string): LookupAddress => ({ address, family: 4 });
const PUBLIC = [v4("93.184.216.34")];

describe("the guarded address cache", () => {
  it("asks DNS once for a name within ttlMs, and again once ttlMs has passed", async () => {
    const dns = fakeDns({ "hooks.example.com": PUBLIC });
    const time = clock();
    const lookup = createGuardedLookup({ ttlMs: 30_000, lookup: dns.resolve, now: time.now });

    expect((await ask(lookup, "hooks.example.com")).address).toEqual(PUBLIC);
    time.advance(29_999);
    expect((await ask(lookup, "hooks.example.com")).address).toEqual(PUBLIC);
    expect(dns.calls).toHaveLength(1);

    dns.answers["hooks.example.com"] = [v4("93.184.216.35")];
    time.advance(1);
    expect((await ask(lookup, "hooks.example.com")).address).toEqual([v4("93.184.216.35")]);
    expect(dns.calls).toHaveLength(2);
  });

  it("refuses a name that turned private once its answer has expired", async () => {
    const dns = fakeDns({ "hooks.example.com": PUBLIC });
    const time = clock();
    const lookup = createGuardedLookup({ ttlMs: 30_000, lookup: dns.resolve, now: time.now });
    expect((await ask(lookup, "hooks.example.com")).err).toBeNull();

    dns.answers["hooks.example.com"] = [v4("93.184.216.34"), v4("10.0.0.7")];
    time.advance(30_000);
    const refused = await ask(lookup, "hooks.example.com");
    expect(refused.err?.code).toBe("DESTINATION_REFUSED");
    expect(refused.err?.message).toBe("destination refused: hooks.example.com resolves to 10.0.0.7, a private address");
    expect(refused.address).toBe("");
    // The public answer it had before is gone, not served again.
    expect((await ask(lookup, "hooks.example.com")).err?.code).toBe("DESTINATION_REFUSED");
    expect(dns.calls).toHaveLength(3);
  });

  it("keeps no refusal: the next connection asks DNS again, and gets a public answer once DNS gives one", async () => {
    const dns = fakeDns({ "internal.example.com": [v4("127.0.0.1")] });
    const lookup = createGuardedLookup({ ttlMs: 30_000, lookup: dns.resolve, now: clock().now });
    expect((await ask(lookup, "internal.example.com")).err?.code).toBe("DESTINATION_REFUSED");
    expect((await ask(lookup, "internal.example.com")).err?.code).toBe("DESTINATION_REFUSED");
    expect(dns.calls).toHaveLength(2);

    dns.answers["internal.example.com"] = PUBLIC;
    expect(await ask(lookup, "internal.example.com")).toMatchObject({ err: null, address: PUBLIC });
    expect(dns.calls).toHaveLength(3);
  });

  it("keeps no DNS error, thrown or answered, and no empty answer", async () => {
    const dns = fakeDns({ "empty.example.com": [] });
    let throws = true;
    const resolve: ResolveAll = (hostname, options, callback) => {
      if (throws) throw Object.assign(new TypeError("bad hostname"), { code: "ERR_INVALID_ARG_VALUE" });
      dns.resolve(hostname, options, callback);
    };
    const lookup = createGuardedLookup({ ttlMs: 30_000, lookup: resolve, now: clock().now });

    expect((await ask(lookup, "hooks.example.com")).err?.code).toBe("ERR_INVALID_ARG_VALUE");
    throws = false;
    expect((await ask(lookup, "hooks.example.com")).err?.code).toBe("ENOTFOUND");
    expect((await ask(lookup, "hooks.example.com")).err?.code).toBe("ENOTFOUND");
    expect(dns.calls).toHaveLength(2);

    expect((await ask(lookup, "empty.example.com")).err?.message).toBe("no address for empty.example.com");
    expect((await ask(lookup, "empty.example.com")).err?.code).toBe("ENOTFOUND");
    expect(dns.calls).toHaveLength(4);

    dns.answers["hooks.example.com"] = PUBLIC;
    expect(await ask(lookup, "hooks.example.com")).toMatchObject({ err: null, address: PUBLIC });
  });

  it("lets lookups of a name whose resolution is under way share it: one DNS query", async () => {
    const pending: Array<() => void> = [];
    const answers: Record<string, Answer> = { "hooks.example.com": PUBLIC, "internal.example.com": [v4("10.1.2.3")] };
    const calls: string[] = [];
    const resolve: ResolveAll = (hostname, _options, callback) => {
      calls.push(hostname);
      const answer = answers[hostname] as LookupAddress[];
      pending.push(() => callback(null, answer));
    };
    const answerPending = () => {
      for (const release of pending.splice(0)) release();
    };
    const lookup = createGuardedLookup({ ttlMs: 30_000, lookup: resolve, now: clock().now });

    const first = [1, 2, 3].map(() => ask(lookup, "hooks.example.com"));
    const refusals = [1, 2].map(() => ask(lookup, "internal.example.com"));
    expect(calls).toEqual(["hooks.example.com", "internal.example.com"]);
    answerPending();
    for (const result of await Promise.all(first)) expect(result).toMatchObject({ err: null, address: PUBLIC });
    for (const result of await Promise.all(refusals)) expect(result.err?.code).toBe("DESTINATION_REFUSED");

    // The public answer is kept; the shared refusal is not.
    expect(await ask(lookup, "hooks.example.com")).toMatchObject({ err: null, address: PUBLIC });
    const again = ask(lookup, "internal.example.com");
    expect(calls).toEqual(["hooks.example.com", "internal.example.com", "internal.example.com"]);
    answerPending();
    expect((await again).err?.code).toBe("DESTINATION_REFUSED");
  });

  it("answers a lookup for all addresses with the list, and any other with the first address and its family", async () => {
    const both: LookupAddress[] = [{ address: "2606:2800:220:1:248:1893:25c8:1946", family: 6 }, v4("93.184.216.34")];
    const copy = structuredClone(both);
    const dns = fakeDns({ "hooks.example.com": both });
    const lookup = createGuardedLookup({ ttlMs: 30_000, lookup: dns.resolve, now: clock().now });

    expect(await ask(lookup, "hooks.example.com", { all: false })).toEqual({
      err: null,
      address: "2606:2800:220:1:248:1893:25c8:1946",
      family: 6,
    });
    const all = await ask(lookup, "hooks.example.com", { all: true });
    expect(all).toEqual({ err: null, address: both, family: undefined });
    expect(await ask(lookup, "hooks.example.com", {})).toMatchObject({ address: both[0]!.address, family: 6 });
    // One resolution of every address served all three.
    expect(dns.calls).toEqual([{ hostname: "hooks.example.com", options: { family: 0, hints: undefined, all: true } }]);

    // A socket changing the list it was given changes nothing kept.
    (all.address as LookupAddress[]).splice(0, 2, v4("127.0.0.1"));
    expect((await ask(lookup, "hooks.example.com")).address).toEqual(copy);
  });

  it("keeps answers per address family, and asks DNS for the family the socket wants", async () => {
    const dns = fakeDns({ "hooks.example.com": PUBLIC });
    const lookup = createGuardedLookup({ ttlMs: 30_000, lookup: dns.resolve, now: clock().now });
    await ask(lookup, "hooks.example.com", { family: 4 });
    await ask(lookup, "hooks.example.com", { family: 6 });
    await ask(lookup, "hooks.example.com", { family: 4, all: true });
    expect(dns.calls.map((call) => call.options.family)).toEqual([4, 6]);
  });

  it("holds maxEntries names at most, dropping the oldest", async () => {
    const dns = fakeDns({ "a.example.com": PUBLIC, "b.example.com": PUBLIC, "c.example.com": PUBLIC });
    const lookup = createGuardedLookup({ ttlMs: 30_000, lookup: dns.resolve, now: clock().now, maxEntries: 2 });
    const names = async (...hostnames: string[]) => {
      for (const hostname of hostnames) await ask(lookup, hostname);
      return dns.calls.map((call) => call.hostname[0]).join("");
    };
    expect(await names("a.example.com", "b.example.com", "a.example.com", "b.example.com")).toBe("ab");
    // c pushes a out; a comes back and pushes b out.
    expect(await names("c.example.com", "b.example.com", "a.example.com", "c.example.com")).toBe("abca");
    expect(await names("b.example.com")).toBe("abcab");
  });

  it("puts a name answered again after ttlMs at the back of the line for dropping", async () => {
    const dns = fakeDns(Object.fromEntries(["a", "b", "c", "d", "e"].map((name) => [`${name}.example.com`, PUBLIC])));
    const time = clock();
    const lookup = createGuardedLookup({ ttlMs: 30_000, lookup: dns.resolve, now: time.now, maxEntries: 3 });
    const visit = async (name: string, advanceMs = 0) => {
      time.advance(advanceMs);
      await ask(lookup, `${name}.example.com`);
    };
    await visit("a");
    await visit("b", 10_000);
    await visit("c", 10_000);
    await visit("b", 20_000); // b expired: asked again, now the newest (a expired too, c has not)
    await visit("d"); // pushes a out
    await visit("e"); // pushes c out, not b
    const before = dns.calls.length;
    await visit("b");
    expect(dns.calls.length).toBe(before);
    await visit("c");
    expect(dns.calls.length).toBe(before + 1);
  });

  it("keeps nothing with ttlMs 0", async () => {
    const dns = fakeDns({ "hooks.example.com": PUBLIC });
    const lookup = createGuardedLookup({ ttlMs: 0, lookup: dns.resolve, now: clock().now });
    expect(await ask(lookup, "hooks.example.com")).toMatchObject({ err: null, address: PUBLIC });
    expect(await ask(lookup, "hooks.example.com")).toMatchObject({ err: null, address: PUBLIC });
    expect(dns.calls).toHaveLength(2);
  });
});
