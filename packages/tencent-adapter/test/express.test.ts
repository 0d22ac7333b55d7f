import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { AdapterEvent } from "@imrelay/core";
import express from "express";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type TencentTenantOptions, tencentWebhook } from "../src/express.js";
import { signTencentQuery, type TencentCallbackResult } from "../src/index.js";
import { fixture, SDK_APP_ID } from "./helpers.js";

const TOKEN = "tencent-callback-token";
const ACME: TencentTenantOptions = { tenant: "acme", sdkAppId: SDK_APP_ID, token: TOKEN };
const BODY = fixture("login-register-kicked.txt");
const OK = { ActionStatus: "OK", ErrorCode: 0, ErrorInfo: "" };

let server: Server;
let base: string;
let taken: TencentCallbackResult[];

beforeAll(async () => {
  const app = express();
  const onEvents = (result: TencentCallbackResult) => {
    taken.push(result);
  };
  app.post("/tencent", tencentWebhook({ ...ACME, onEvents }));
  app.post("/small", tencentWebhook({ ...ACME, onEvents, limitBytes: 1024 }));
  app.post(
    "/tenants/:tenant/tencent",
    tencentWebhook({
      resolveTenant: (req) => (req.params["tenant"] === "acme" ? ACME : undefined),
      onEvents,
    }),
  );
  app.post(
    "/broken-store",
    tencentWebhook({
      ...ACME,
      onEvents: async () => {
        throw new Error("connect ECONNREFUSED redis://:hunter2@10.0.0.5:6379");
      },
    }),
  );
  app.post("/after-json", express.json(), tencentWebhook({ ...ACME, onEvents }));
  app.post("/after-raw", express.raw({ type: "*/*" }), tencentWebhook({ ...ACME, onEvents }));
  app.post("/after-text", express.text({ type: "*/*" }), tencentWebhook({ ...ACME, onEvents }));

  server = await new Promise<Server>((resolve) => {
    const listening = app.listen(0, "127.0.0.1", () => resolve(listening));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
});

beforeEach(() => {
  taken = [];
});

function post(
  path: string,
  {
    body = BODY,
    query = signTencentQuery({ token: TOKEN, sdkAppId: SDK_APP_ID }),
  }: { body?: string; query?: Record<string, string> } = {},
) {
  return fetch(`${base}${path}?${new URLSearchParams(query)}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
}

async function answer(response: Response): Promise<{ status: number; body: unknown }> {
  return { status: response.status, body: await response.json() };
}

describe("tencentWebhook", () => {
  it("answers 200 OK after handing the event to onEvents", async () => {
    expect(await answer(await post("/tencent"))).toEqual({ status: 200, body: OK });
    expect(taken).toHaveLength(1);
    const [event] = taken[0]!.events;
    expect(AdapterEvent.parse(event)).toMatchObject({
      tenant: "acme",
      type: "user.online",
      userId: "testuser316",
      platform: "ios",
      kickedPlatforms: ["windows", "android"],
    });
  });

  it("answers 200 OK for a command it does not map, and says so to onEvents", async () => {
    const query = signTencentQuery({ token: TOKEN, sdkAppId: SDK_APP_ID, callbackCommand: "C2C.CallbackAfterSendMsg" });
    expect(await answer(await post("/tencent", { body: fixture("c2c-after-send-msg.txt"), query }))).toEqual({
      status: 200,
      body: OK,
    });
    expect(taken).toEqual([expect.objectContaining({ events: [], unrecognized: true })]);
  });

  it("answers 401 when Sign does not match", async () => {
    const query = signTencentQuery({ token: "another-token", sdkAppId: SDK_APP_ID });
    expect(await answer(await post("/tencent", { query }))).toEqual({
      status: 401,
      body: { ActionStatus: "FAIL", ErrorCode: 1, ErrorInfo: "Sign does not match" },
    });
    expect(taken).toEqual([]);
  });

  it("answers 401 when RequestTime is outside the window", async () => {
    const query = signTencentQuery({ token: TOKEN, sdkAppId: SDK_APP_ID, now: Date.now() - 120_000 });
    const { status, body } = await answer(await post("/tencent", { query }));
    expect(status).toBe(401);
    expect(body).toEqual({ ActionStatus: "FAIL", ErrorCode: 1, ErrorInfo: "RequestTime is outside the 60 s window" });
  });

  it("answers 403 when SdkAppid is another app's", async () => {
    const query = signTencentQuery({ token: TOKEN, sdkAppId: "1400000001" });
    expect(await answer(await post("/tencent", { query }))).toEqual({
      status: 403,
      body: { ActionStatus: "FAIL", ErrorCode: 1, ErrorInfo: "SdkAppid is not this tenant's SDKAppID" },
    });
  });

  it("answers 400 when the body is not JSON", async () => {
    expect(await answer(await post("/tencent", { body: "<xml/>" }))).toEqual({
      status: 400,
      body: { ActionStatus: "FAIL", ErrorCode: 1, ErrorInfo: "body is not JSON" },
    });
  });

  it("answers 413 when Content-Length is over limitBytes", async () => {
    const body = JSON.stringify({ CallbackCommand: "State.StateChange", padding: "x".repeat(2048) });
    expect(await answer(await post("/small", { body }))).toEqual({
      status: 413,
      body: { ActionStatus: "FAIL", ErrorCode: 1, ErrorInfo: "body is over the 1024-byte limit" },
    });
    expect(taken).toEqual([]);
  });

  it("answers 413 when a chunked body grows over limitBytes", async () => {
    const chunk = new TextEncoder().encode("x".repeat(600));
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(chunk);
        controller.enqueue(chunk);
        controller.close();
      },
    });
    const query = signTencentQuery({ token: TOKEN, sdkAppId: SDK_APP_ID });
    const response = await fetch(`${base}/small?${new URLSearchParams(query)}`, {
      method: "POST",
      body: stream,
      duplex: "half",
    } as RequestInit);
    expect(await answer(response)).toEqual({
      status: 413,
      body: { ActionStatus: "FAIL", ErrorCode: 1, ErrorInfo: "body is over the 1024-byte limit" },
    });
  });

  it("answers 64 KiB bodies by default and refuses larger ones", async () => {
    const within = JSON.stringify({ CallbackCommand: "Other.Command", padding: "x".repeat(60_000) });
    expect((await post("/tencent", { body: within })).status).toBe(200);
    const over = JSON.stringify({ CallbackCommand: "Other.Command", padding: "x".repeat(66_000) });
    expect((await post("/tencent", { body: over })).status).toBe(413);
  });

  it("answers 404 UNKNOWN_TENANT when resolveTenant finds no tenant", async () => {
    expect(await answer(await post("/tenants/globex/tencent"))).toEqual({
      status: 404,
      body: { ActionStatus: "FAIL", ErrorCode: 1, ErrorInfo: "no tenant is configured for this URL" },
    });
  });

  it("uses the tenant resolveTenant picks", async () => {
    expect((await post("/tenants/acme/tencent")).status).toBe(200);
    expect(taken[0]?.events[0]?.tenant).toBe("acme");
  });

  it("answers 503 without the error's text when onEvents throws", async () => {
    const response = await post("/broken-store");
    const text = await response.text();
    expect(response.status).toBe(503);
    expect(JSON.parse(text)).toEqual({
      ActionStatus: "FAIL",
      ErrorCode: 1,
      ErrorInfo: "the callback could not be stored",
    });
    expect(text).not.toContain("hunter2");
  });

  it.each(["/after-json", "/after-raw", "/after-text"])("works behind a body parser (%s)", async (path) => {
    expect(await answer(await post(path))).toEqual({ status: 200, body: OK });
    expect(taken[0]?.events[0]?.userId).toBe("testuser316");
  });

  it("reads the body itself when a JSON parser skipped a request it did not recognize", async () => {
    const query = signTencentQuery({ token: TOKEN, sdkAppId: SDK_APP_ID });
    const response = await fetch(`${base}/after-json?${new URLSearchParams(query)}`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: BODY,
    });
    expect(response.status).toBe(200);
    expect(taken[0]?.events[0]?.type).toBe("user.online");
  });
});
