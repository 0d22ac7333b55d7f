import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { AdapterEvent } from "@imrelay/core";
import express from "express";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type NeteaseTenantOptions, neteaseWebhook } from "../src/express.js";
import { type NeteaseCallbackResult, neteaseRequest } from "../src/index.js";
import { APP_KEY, fixture, VECTOR } from "./helpers.js";

const APP_SECRET = "netease-app-secret";
const ACME: NeteaseTenantOptions = { tenant: "acme", appKey: APP_KEY, appSecret: APP_SECRET };
const OK = '{"code":200}';

let server: Server;
let base: string;
let taken: NeteaseCallbackResult[];

beforeAll(async () => {
  const app = express();
  const onEvents = (result: NeteaseCallbackResult) => {
    taken.push(result);
  };
  app.post("/netease", neteaseWebhook({ ...ACME, onEvents }));
  app.post("/unsigned", neteaseWebhook({ tenant: "acme", appKey: APP_KEY, onEvents }));
  app.post("/small", neteaseWebhook({ ...ACME, onEvents, limitBytes: 1024 }));
  app.post(
    "/tenants/:tenant/netease",
    neteaseWebhook({ resolveTenant: (req) => (req.params["tenant"] === "acme" ? ACME : undefined), onEvents }),
  );
  app.post(
    "/broken-store",
    neteaseWebhook({
      ...ACME,
      onEvents: async () => {
        throw new Error("connect ECONNREFUSED redis://:hunter2@10.0.0.5:6379");
      },
    }),
  );
  app.post("/after-raw", express.raw({ type: "*/*" }), neteaseWebhook({ ...ACME, onEvents }));
  app.post("/after-text", express.text({ type: "*/*" }), neteaseWebhook({ ...ACME, onEvents }));
  app.post("/after-json", express.json(), neteaseWebhook({ ...ACME, onEvents }));

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

function post(path: string, { body, headers }: { body: string; headers: Record<string, string> }) {
  return fetch(`${base}${path}`, { method: "POST", headers, body });
}

async function answer(response: Response): Promise<{ status: number; body: string }> {
  expect(response.headers.get("content-type")).toMatch(/^application\/json/);
  return { status: response.status, body: await response.text() };
}

const signedLogin = () => neteaseRequest({ accid: "t3", clientType: "AOS", appKey: APP_KEY, appSecret: APP_SECRET });

describe("neteaseWebhook", () => {
  it("answers 200 {code:200} after handing the event to onEvents", async () => {
    expect(await answer(await post("/netease", signedLogin()))).toEqual({ status: 200, body: OK });
    expect(taken).toHaveLength(1);
    expect(AdapterEvent.parse(taken[0]!.events[0])).toMatchObject({
      tenant: "acme",
      provider: "netease",
      appId: APP_KEY,
      type: "user.online",
      userId: "t3",
      platform: "android",
    });
  });

  it("verifies the test vector over the wire", async () => {
    const req = neteaseRequest({
      body: fixture("login-signed-vector.txt"),
      appSecret: VECTOR.appSecret,
      now: Number(VECTOR.curTime),
    });
    const app = express();
    app.post(
      "/v",
      neteaseWebhook({
        tenant: "acme",
        appKey: APP_KEY,
        appSecret: VECTOR.appSecret,
        onEvents: (r) => void taken.push(r),
      }),
    );
    const vector = await new Promise<Server>((resolve) => {
      const listening = app.listen(0, "127.0.0.1", () => resolve(listening));
    });
    try {
      const port = (vector.address() as AddressInfo).port;
      const response = await fetch(`http://127.0.0.1:${port}/v`, {
        method: "POST",
        headers: req.headers,
        body: req.body,
      });
      expect(await answer(response)).toEqual({ status: 200, body: OK });
      expect(taken[0]?.events[0]).toMatchObject({ userId: "t3", clientIp: "60.205.10.202" });
    } finally {
      await new Promise<void>((resolve) => vector.close(() => resolve()));
    }
  });

  it("answers the console's URL probe OK, with an empty body too", async () => {
    const probe = neteaseRequest({ body: "{}", appKey: APP_KEY, appSecret: APP_SECRET });
    expect(await answer(await post("/netease", probe))).toEqual({ status: 200, body: OK });
    const empty = neteaseRequest({ body: "", appKey: APP_KEY, appSecret: APP_SECRET });
    expect(await answer(await post("/netease", empty))).toEqual({ status: 200, body: OK });
    expect(taken.map((r) => [r.unrecognized, r.unrecognizedReason, r.events.length])).toEqual([
      [true, "url probe", 0],
      [true, "url probe", 0],
    ]);
  });

  it("answers 401 when CheckSum is missing", async () => {
    const req = neteaseRequest({ accid: "t3" });
    expect(await answer(await post("/netease", req))).toEqual({
      status: 401,
      body: '{"code":401,"desc":"MD5, CheckSum and CurTime headers are required"}',
    });
    expect(taken).toEqual([]);
  });

  it("answers 401 when signed with another secret", async () => {
    const req = neteaseRequest({ accid: "t3", appSecret: "another-secret" });
    expect(await answer(await post("/netease", req))).toEqual({
      status: 401,
      body: '{"code":401,"desc":"CheckSum does not match"}',
    });
  });

  it("answers 403 for another app's AppKey", async () => {
    const req = neteaseRequest({ accid: "t3", appKey: "another-app", appSecret: APP_SECRET });
    expect(await answer(await post("/netease", req))).toEqual({
      status: 403,
      body: '{"code":403,"desc":"AppKey is not this tenant\'s AppKey"}',
    });
  });

  it("answers 400 for a signed body that is not JSON", async () => {
    const req = neteaseRequest({ body: "eventType=2&accid=t3", appSecret: APP_SECRET });
    expect(await answer(await post("/netease", req))).toEqual({
      status: 400,
      body: '{"code":400,"desc":"body is not JSON"}',
    });
  });

  it("takes unsigned copies on a route without appSecret", async () => {
    expect(await answer(await post("/unsigned", neteaseRequest({ accid: "t3" })))).toEqual({ status: 200, body: OK });
    expect(taken[0]?.events).toHaveLength(1);
  });

  it("answers 413 when the body is over limitBytes", async () => {
    const req = neteaseRequest({ body: { eventType: "1", padding: "x".repeat(2048) }, appSecret: APP_SECRET });
    expect(await answer(await post("/small", req))).toEqual({
      status: 413,
      body: '{"code":413,"desc":"body is over the 1024-byte limit"}',
    });
    expect(taken).toEqual([]);
  });

  it("answers 404 when resolveTenant finds no tenant, and uses the one it finds", async () => {
    expect(await answer(await post("/tenants/globex/netease", signedLogin()))).toEqual({
      status: 404,
      body: '{"code":404,"desc":"no tenant is configured for this URL"}',
    });
    expect((await post("/tenants/acme/netease", signedLogin())).status).toBe(200);
    expect(taken[0]?.events[0]?.tenant).toBe("acme");
  });

  it("answers 503 without the error's text when onEvents throws", async () => {
    const { status, body } = await answer(await post("/broken-store", signedLogin()));
    expect(status).toBe(503);
    expect(body).toBe('{"code":503,"desc":"the callback could not be stored"}');
    expect(body).not.toContain("hunter2");
  });

  it.each(["/after-raw", "/after-text"])("works behind a raw body parser (%s)", async (path) => {
    expect(await answer(await post(path, signedLogin()))).toEqual({ status: 200, body: OK });
    expect(taken[0]?.events[0]?.userId).toBe("t3");
  });

  it("cannot verify behind express.json(): MD5 covers bytes a JSON parser threw away", async () => {
    // The vendor's spacing is not what JSON.stringify writes back, so the MD5 cannot match.
    const req = neteaseRequest({ body: '{"eventType": "2", "accid": "t3"}', appSecret: APP_SECRET });
    const response = await post("/after-json", req);
    expect(await answer(response)).toEqual({
      status: 401,
      body: '{"code":401,"desc":"MD5 is not the MD5 of the body"}',
    });
  });
});
