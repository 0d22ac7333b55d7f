import { randomUUID } from "node:crypto";
import { openImRequest } from "@imrelay/openim-adapter";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clampVendorTime } from "../src/callbacks/vendor-clock.js";
import {
  dropPrefix,
  fakeClock,
  metricValue,
  newPrefix,
  post,
  startTestGateway,
  streamEvents,
  testConfig,
} from "./helpers.js";
import {
  dropKeys,
  parseMetrics,
  postTencent,
  type Sink,
  type SinkRequest,
  type Stack,
  sampleValue,
  startSink,
  startStack,
  tencentCallback,
  waitFor,
  webhookSecret,
} from "./stack.js";

const prefix = `test-${randomUUID()}`;
const SDK_APP_ID = "1400000000";
const TOKEN = `tencent-token-${randomUUID()}`;
const ADMIN_TOKEN = `admin-token-${randomUUID()}`;
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
/** A Tencent EventTime in the year 2283: a vendor clock gone wrong. */
const FAR_FUTURE = 9.9e12;

let sink: Sink;
let stack: Stack;

beforeAll(async () => {
  sink = await startSink(200);
  stack = await startStack({
    prefix,
    adminToken: ADMIN_TOKEN,
    tenants: {
      acme: {
        tencent: { sdkAppId: SDK_APP_ID, callbackToken: TOKEN },
        endpoints: [{ id: "presence", url: sink.url, secret: webhookSecret() }],
      },
    },
  });
});

afterAll(async () => {
  await stack?.close();
  await sink?.close();
  await dropKeys(prefix);
});

function tencent(userId: string, eventTime: number, action: "Login" | "Logout" = "Login") {
  const reason = action === "Login" ? "Register" : "Unregister";
  return postTencent(
    stack,
    "acme",
    tencentCallback({ token: TOKEN, sdkAppId: SDK_APP_ID, userId, eventTime, action, reason }),
  );
}

const deliveredTo = (userId: string) => sink.requests.filter((r) => r.payload.data.userId === userId);

async function clampedCount() {
  const samples = parseMetrics((await stack.call("/metrics")).text);
  return sampleValue(samples, "imrelay_vendor_clock_clamped_total", { tenant: "acme", provider: "tencent" }) ?? 0;
}

describe("a vendor clock far ahead of the gateway's", () => {
  it("cannot pin presence: the time is taken as the gateway's, so a later logout takes the user offline", async () => {
    expect((await tencent("skewed", FAR_FUTURE)).status).toBe(200);
    expect((await tencent("skewed", Date.now(), "Logout")).status).toBe(200);

    await waitFor(() => deliveredTo("skewed").length === 2, "both deliveries");
    const bySequence = (a: SinkRequest, b: SinkRequest) =>
      Number(a.payload.data.sequence) - Number(b.payload.data.sequence);
    const [login, logout] = deliveredTo("skewed").sort(bySequence);
    expect(logout!.payload.type).toBe("user.offline");
    expect(logout!.payload.data).toMatchObject({ stale: false, changed: true, presence: { online: false } });
    const presence = await stack.call("/v1/tenants/acme/users/skewed/presence", { headers: admin });
    expect(presence.json).toMatchObject({ online: false });

    expect(login!.payload.type).toBe("user.online");
    expect(login!.payload.data.occurredAt).toBe(login!.payload.data.receivedAt);
    expect(await clampedCount()).toBe(1);
  });

  it("keeps a vendor time ahead by less than presence.maxClockSkew as the vendor sent it", async () => {
    const before = await clampedCount();
    const soon = Date.now() + 60_000;
    expect((await tencent("ahead", soon)).status).toBe(200);
    await waitFor(() => deliveredTo("ahead").length === 1, "the delivery");
    const [login] = deliveredTo("ahead");
    expect(login!.payload.data.occurredAt).toBe(new Date(soon).toISOString());
    expect(await clampedCount()).toBe(before);
  });
});

describe("presence.maxClockSkew", () => {
  it("bounds every vendor's time, OpenIM's seq as well as Tencent's EventTime", async () => {
    const now = Date.parse("2025-01-01T00:00:00.000Z");
    const gwPrefix = newPrefix();
    const gw = await startTestGateway(
      testConfig({ tenants: { acme: { openim: { appId: "a" } } }, presence: { maxClockSkew: "1s" } }, gwPrefix),
      { clock: fakeClock(now) },
    );
    try {
      const send = (userId: string, seq: number) => {
        const req = openImRequest({ userId, seq });
        return post(`${gw.url}/v1/tenants/acme${req.url}`, req.body, req.headers);
      };
      expect((await send("within", now + 1_000)).status).toBe(200);
      expect((await send("beyond", now + 1_001)).status).toBe(200);
      const times = Object.fromEntries(
        (await streamEvents(gw.redis, gw.keys)).map((e) => [e.userId, [e.occurredAt, e.receivedAt]]),
      );
      expect(times).toEqual({
        within: ["2025-01-01T00:00:01.000Z", "2025-01-01T00:00:00.000Z"],
        beyond: ["2025-01-01T00:00:00.000Z", "2025-01-01T00:00:00.000Z"],
      });
      expect(await metricValue(gw.registry, "imrelay_vendor_clock_clamped_total", { provider: "openim" })).toBe(1);
      expect(gw.log.json().find((line) => line.msg?.toString().startsWith("vendor time ahead"))).toMatchObject({
        level: 20,
        occurredAt: "2025-01-01T00:00:01.001Z",
      });
    } finally {
      await dropPrefix(gw.redis, gwPrefix);
      await gw.close();
    }
  });
});

describe("clampVendorTime", () => {
  const receivedAt = "2025-01-01T00:00:00.000Z";
  const at = (ms: number) => new Date(Date.parse(receivedAt) + ms).toISOString();

  it("takes a vendor time more than the bound ahead as the arrival time", () => {
    expect(clampVendorTime({ occurredAt: at(300_001), receivedAt }, 300_000)).toEqual({
      occurredAt: receivedAt,
      receivedAt,
    });
  });

  it("leaves a time at the bound, or in the past, as it is", () => {
    expect(clampVendorTime({ occurredAt: at(300_000), receivedAt }, 300_000)).toBeUndefined();
    expect(clampVendorTime({ occurredAt: at(-86_400_000), receivedAt }, 300_000)).toBeUndefined();
  });

  it("keeps every other field of the event", () => {
    const event = { id: "evt_1", userId: "u", occurredAt: at(600_000), receivedAt };
    expect(clampVendorTime(event, 0)).toEqual({ ...event, occurredAt: receivedAt });
  });
});
