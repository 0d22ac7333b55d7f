import type { AddressInfo } from "node:net";
import express from "express";
import { afterEach, describe, expect, it } from "vitest";
import { type AgoraWebhookOptions, agoraWebhook } from "../src/express.js";
import { type AgoraCallbackResult, signAgoraBody } from "../src/index.js";
import { APP_KEY, fixture, SECRET } from "./helpers.js";

const OK = '{"status":"ok"}';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function listen(app: express.Express): Promise<string> {
  const server = app.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", resolve));
  closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A real Express app on a loopback port with the middleware mounted as the README says. */
async function serve(
  options: Partial<AgoraWebhookOptions> = {},
  setup: (app: express.Express) => void = () => {},
): Promise<{ url: string; seen: AgoraCallbackResult[] }> {
  const seen: AgoraCallbackResult[] = [];
  const app = express();
  setup(app);
  app.post(
    "/agora",
    agoraWebhook({
      tenant: "acme",
      appKey: APP_KEY,
      secret: SECRET,
      onEvents: (result) => {
        seen.push(result);
      },
      ...options,
    } as AgoraWebhookOptions),
  );
  return { url: `${await listen(app)}/agora`, seen };
}

function post(url: string, body: string): Promise<Response> {
  return fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
}

describe("agoraWebhook", () => {
  it("answers OK to the vendor's signed sample and hands over its event", async () => {
    const { url, seen } = await serve();
    const res = await post(url, fixture("logout-ios.txt"));

    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await res.text()).toBe(OK);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.events[0]).toMatchObject({
      type: "user.offline",
      reason: "logout",
      userId: "alice",
      platform: "ios",
      connectionId: "ios_6d580737-db3a-d2b5-da18-b6045ffd195b",
      clientIp: "223.71.97.198",
    });
  });

  it("answers OK to a body from signAgoraBody", async () => {
    const { url, seen } = await serve();
    const res = await post(url, signAgoraBody({ secret: SECRET, appKey: APP_KEY, userId: "bob_smith" }));

    expect(res.status).toBe(200);
    expect(seen[0]?.events[0]).toMatchObject({ type: "user.online", userId: "bob_smith" });
  });

  it("answers 401 in the error envelope when security does not match", async () => {
    const { url, seen } = await serve();
    const forged = JSON.stringify({ ...JSON.parse(fixture("logout-ios.txt")), security: "0".repeat(32) });
    const res = await post(url, forged);

    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({
      status: "error",
      error: "SIGNATURE_MISMATCH",
      error_description: "security does not match",
    });
    expect(seen).toEqual([]);
  });

  it("answers 403 when appkey is another app's", async () => {
    const { url, seen } = await serve({ appKey: "61000000#other" });
    const res = await post(url, fixture("logout-ios.txt"));

    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: string }).error).toBe("APP_ID_MISMATCH");
    expect(seen).toEqual([]);
  });

  it("answers OK and reports a message callback as unrecognized", async () => {
    const { url, seen } = await serve();
    const res = await post(url, fixture("message-chat.txt"));

    expect(res.status).toBe(200);
    expect(await res.text()).toBe(OK);
    expect(seen).toEqual([
      { events: [], unrecognized: true, unrecognizedReason: "eventType chat", response: JSON.parse(OK) },
    ]);
  });

  it("answers 400 under 1,000 bytes to a body that is not JSON", async () => {
    const { url, seen } = await serve();
    const res = await post(url, "reason=login&user=alice");
    const text = await res.text();

    expect(res.status).toBe(400);
    expect(JSON.parse(text)).toEqual({
      status: "error",
      error: "MALFORMED_BODY",
      error_description: "body is not valid JSON",
    });
    expect(Buffer.byteLength(text)).toBeLessThan(1000);
    expect(seen).toEqual([]);
  });

  it("answers 413 under 1,000 bytes to a body over the default 64 KiB", async () => {
    const { url, seen } = await serve();
    const res = await post(url, JSON.stringify({ reason: "login", user: "x".repeat(70 * 1024) }));
    const text = await res.text();

    expect(res.status).toBe(413);
    expect(JSON.parse(text)).toMatchObject({ status: "error", error: "PAYLOAD_TOO_LARGE" });
    expect(Buffer.byteLength(text)).toBeLessThan(1000);
    expect(seen).toEqual([]);
  });

  it("answers 503 without the error's text when onEvents throws", async () => {
    const { url } = await serve({
      onEvents: async () => {
        throw new Error("connect ECONNREFUSED redis://:hunter2@10.0.0.5:6379");
      },
    });
    const res = await post(url, fixture("logout-ios.txt"));
    const text = await res.text();

    expect(res.status).toBe(503);
    expect(JSON.parse(text)).toEqual({
      status: "error",
      error: "STORE_UNAVAILABLE",
      error_description: "the callback could not be stored",
    });
    expect(text).not.toContain("hunter2");
  });

  it("answers 404 UNKNOWN_TENANT when the resolver knows no tenant for the url", async () => {
    const tenants: Record<string, { tenant: string; appKey: string; secret: string }> = {
      acme: { tenant: "acme", appKey: APP_KEY, secret: SECRET },
    };
    const seen: AgoraCallbackResult[] = [];
    const app = express();
    app.post(
      "/t/:tenant/agora",
      agoraWebhook({
        resolveTenant: (req) => tenants[String(req.params["tenant"])],
        onEvents: (result) => {
          seen.push(result);
        },
      }),
    );
    const base = await listen(app);

    const unknown = await post(`${base}/t/globex/agora`, fixture("logout-ios.txt"));
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({
      status: "error",
      error: "UNKNOWN_TENANT",
      error_description: "no tenant is configured for this URL",
    });

    const known = await post(`${base}/t/acme/agora`, fixture("logout-ios.txt"));
    expect(known.status).toBe(200);
    expect(seen[0]?.events[0]?.tenant).toBe("acme");
  });

  it("works behind express.json(), which has already read the body", async () => {
    const { url, seen } = await serve({}, (app) => app.use(express.json()));
    const res = await post(url, fixture("logout-ios.txt"));

    expect(res.status).toBe(200);
    expect(seen[0]?.events[0]?.userId).toBe("alice");
  });
});
