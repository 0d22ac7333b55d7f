import { readFileSync } from "node:fs";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { describe, expect, expectTypeOf, it } from "vitest";
import { AdapterEvent, DeliveredPayload, ImrelayEvent, payloadJsonSchema, toPayload } from "../src/index.js";

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

/** The committed schema, compiled by a real JSON Schema validator, strict about the schema itself. */
const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats.default(ajv);
const validatePayload = ajv.compile(committed);

/** What a newer imrelay may send: a field this version does not know, at every level. */
const newer = {
  ...toPayload(ImrelayEvent.parse(event)),
  deliveryAttempt: 2,
  data: {
    ...event,
    region: "eu-1",
    presence: {
      ...event.presence,
      lastSeenAt: "2021-08-25T09:22:12.497Z",
      platforms: [{ ...event.presence.platforms[0], device: "d-1", battery: 80 }],
    },
  },
};

describe("forward compatibility (receivers ignore fields they do not know)", () => {
  it("the published JSON Schema accepts the contract's payload and refuses a wrong one", () => {
    expect(validatePayload(toPayload(ImrelayEvent.parse(event))), JSON.stringify(validatePayload.errors)).toBe(true);
    expect(validatePayload({ ...toPayload(ImrelayEvent.parse(event)), type: "user.vanished" })).toBe(false);
    expect(validatePayload({ ...toPayload(ImrelayEvent.parse(event)), data: { ...event, sequence: "42" } })).toBe(
      false,
    );
  });

  it("the published JSON Schema accepts unknown fields at the top, in data, in presence and its platforms", () => {
    expect(validatePayload(newer), JSON.stringify(validatePayload.errors)).toBe(true);
  });

  it("the zod schemas parse such a payload and keep the fields they do not know", () => {
    const parsed = DeliveredPayload.parse(newer);
    expect(parsed).toEqual(newer);
    expect(ImrelayEvent.parse(newer.data)).toEqual(newer.data);
    expect(AdapterEvent.safeParse({ ...event, region: "eu-1" }).success).toBe(true);
  });

  it("the types allow fields they do not know", () => {
    expectTypeOf<DeliveredPayload>().toHaveProperty("deliveryAttempt");
    expectTypeOf<ImrelayEvent>().toHaveProperty("region");
    expectTypeOf<ImrelayEvent["presence"]>().toHaveProperty("lastSeenAt");
    expectTypeOf<ImrelayEvent["presence"]["platforms"][number]>().toHaveProperty("device");
  });
});

describe("ImrelayEvent", () => {
  it("accepts the contract's example event", () => {
    expect(ImrelayEvent.parse(event)).toEqual(event);
  });

  it("rejects an unknown platform; its strict form, for imrelay's own output, rejects an extra field", () => {
    expect(ImrelayEvent.safeParse({ ...event, platform: "symbian" }).success).toBe(false);
    expect(ImrelayEvent.strict().safeParse({ ...event, extra: 1 }).success).toBe(false);
  });

  it("wraps an event in the delivered payload with occurredAt as timestamp", () => {
    const payload = toPayload(ImrelayEvent.parse(event));
    expect(payload).toEqual({ type: "user.online", timestamp: "2021-08-25T09:22:12.497Z", data: event });
    expect(DeliveredPayload.safeParse(payload).success).toBe(true);
  });
});
