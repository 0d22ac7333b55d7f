import { describe, expect, it } from "vitest";
import { canonicalJson, eventId } from "../src/index.js";

const base = { tenant: "acme", provider: "tencent", appId: "1400000000" } as const;

describe("eventId", () => {
  it("gives the same id for the same callback, whatever its key order", () => {
    const a = eventId({ ...base, callback: { Info: { Action: "Login", To_Account: "u1" }, EventTime: 1 } });
    const b = eventId({ ...base, callback: { EventTime: 1, Info: { To_Account: "u1", Action: "Login" } } });
    expect(a).toBe(b);
    expect(a).toMatch(/^evt_[0-9a-z]{26}$/);
  });

  it("gives different ids to different tenants, providers and callbacks", () => {
    const callback = { EventTime: 1 };
    const ids = new Set([
      eventId({ ...base, callback }),
      eventId({ ...base, tenant: "other", callback }),
      eventId({ ...base, provider: "openim", callback }),
      eventId({ ...base, callback: { EventTime: 2 } }),
    ]);
    expect(ids.size).toBe(4);
  });
});

describe("canonicalJson", () => {
  it("sorts keys at every depth and drops undefined", () => {
    expect(canonicalJson({ b: [{ d: 1, c: 2 }], a: undefined, e: null })).toBe('{"b":[{"c":2,"d":1}],"e":null}');
  });
});
