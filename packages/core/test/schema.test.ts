import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DeliveredPayload, ImrelayEvent, payloadJsonSchema, toPayload } from "../src/index.js";

const committed = JSON.parse(readFileSync(new URL("../payload.schema.json", import.meta.url), "utf8"));

const event = {
  id: "evt_0123456789abcdefghjkmnpqrs",
  type: "user.online",
  tenant: "acme",
  provider: "tencent",
  appId: "1400000000",
  userId: "testuser316",
  status: "online",
  reason: "login",
  platform: "ios",
  clientIp: "127.0.0.1",
  connectionId: null,
  background: null,
  kickedPlatforms: [],
  customStatus: null,
  occurredAt: "2021-08-25T09:22:12.497Z",
  receivedAt: "2021-08-25T09:22:12.510Z",
  sequence: 42,
  presence: {
    online: true,
    platforms: [{ provider: "tencent", platform: "ios", device: null, since: "2021-08-25T09:22:12.497Z" }],
  },
  changed: true,
  stale: false,
} as const;

describe("payload JSON Schema", () => {
  it("is the model's schema with the provider names made an enum", () => {
    const providers = committed.properties.data.properties.provider.enum;
    expect(committed).toEqual(JSON.parse(JSON.stringify(payloadJsonSchema(providers))));
  });

  it("requires every field of the contract's event", () => {
    const data = committed.properties.data;
    expect(new Set(data.required)).toEqual(
      new Set([
        "id",
        "type",
        "tenant",
        "provider",
        "appId",
        "userId",
        "reason",
        "platform",
        "clientIp",
        "connectionId",
        "background",
        "kickedPlatforms",
        "customStatus",
        "occurredAt",
        "receivedAt",
        "sequence",
        "presence",
        "changed",
        "stale",
      ]),
    );
    expect(Object.keys(data.properties)).toContain("status");
    expect(Object.keys(data.properties)).toContain("raw");
  });
});

describe("ImrelayEvent", () => {
  it("accepts the contract's example event", () => {
    expect(ImrelayEvent.parse(event)).toEqual(event);
  });

  it("rejects an unknown platform and an extra field", () => {
    expect(ImrelayEvent.safeParse({ ...event, platform: "symbian" }).success).toBe(false);
    expect(ImrelayEvent.safeParse({ ...event, extra: 1 }).success).toBe(false);
  });

  it("wraps an event in the delivered payload with occurredAt as timestamp", () => {
    const payload = toPayload(ImrelayEvent.parse(event));
    expect(payload).toEqual({ type: "user.online", timestamp: "2021-08-25T09:22:12.497Z", data: event });
    expect(DeliveredPayload.safeParse(payload).success).toBe(true);
  });
});
