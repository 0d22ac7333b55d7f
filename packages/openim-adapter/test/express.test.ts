import type { AddressInfo } from "node:net";
import express from "express";
import { afterEach, describe, expect, it } from "vitest";
import { type OpenImWebhookOptions, openImWebhook } from "../src/express.js";
import { type OpenImCallbackResult, openImRequest } from "../src/index.js";
import { fixture } from "./helpers.js";

const OK = '{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}';
const ROUTES = ["/openim", "/openim/:command", "/openim//:command"];

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** A real Express app on a loopback port with the middleware mounted as the README says. */
async function serve(
  options: Partial<OpenImWebhookOptions> = {},
  setup: (app: express.Express) => void = () => {},
): Promise<{ base: string; seen: OpenImCallbackResult[] }> {
  const seen: OpenImCallbackResult[] = [];
  const app = express();
  setup(app);
  app.post(
    ROUTES,
    openImWebhook({
      tenant: "acme",
      appId: "acme-openim",
      onEvents: (result) => {
        seen.push(result);
      },
      ...options,
    } as OpenImWebhookOptions),
  );
  const server = app.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", resolve));
  closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

function post(url: string, body: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
}

describe("openImWebhook", () => {
  it("answers OK to a v3.8 callback with the command in the path and hands over its event", async () => {
    const { base, seen } = await serve();
    const req = openImRequest({
      command: "callbackAfterUserOfflineCommand",
      userId: "u9",
      platformId: 1,
      seq: 1751440000000,
    });
    const res = await post(`${base}${req.url}`, req.body, req.headers);

    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await res.text()).toBe(OK);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.operationId).toBe(req.headers["Operationid"]);
    expect(seen[0]?.events[0]).toMatchObject({
      type: "user.offline",
      userId: "u9",
      platform: "ios",
      occurredAt: "2025-07-02T07:06:40.000Z",
    });
  });

  it("answers OK to an older callback with the command in ?command=", async () => {
    const { base, seen } = await serve();
    const res = await post(
      `${base}/openim?command=callbackUserOfflineCommand&contenttype=json`,
      fixture("seed-user-offline.txt"),
    );

    expect(res.status).toBe(200);
    expect(await res.text()).toBe(OK);
    expect(seen[0]?.events[0]).toMatchObject({ type: "user.offline", userId: "user123", connectionId: "conn123" });
  });

  it("reads the command after the double slash of a configured url with a trailing slash", async () => {
    const { base, seen } = await serve();
    const req = openImRequest({ command: "callbackAfterUserOnlineCommand", userId: "u1", basePath: "/openim/" });
    expect(req.path).toBe("/openim//callbackAfterUserOnlineCommand");
    const res = await post(`${base}${req.url}`, req.body, req.headers);

    expect(res.status).toBe(200);
    expect(seen[0]?.events[0]?.type).toBe("user.online");
  });

  it("lets the path command win over the body's", async () => {
    const { base, seen } = await serve();
    const res = await post(`${base}/openim/callbackAfterUserKickOffCommand`, fixture("v3.8-user-online.txt"));

    expect(res.status).toBe(200);
    expect(seen[0]?.events[0]?.reason).toBe("kicked");
  });

  it("answers 401 in the OpenIM envelope when Basic auth is configured and missing", async () => {
    const { base, seen } = await serve({ basicAuth: { username: "openim", password: "s3cret" } });
    const req = openImRequest({ userId: "u1" });
    const res = await post(`${base}${req.url}`, req.body, req.headers);

    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({
      actionCode: 1,
      errCode: 401,
      errMsg: "Basic auth credentials are missing",
      errDlt: "CREDENTIALS_MISSING",
      nextCode: 0,
    });
    expect(seen).toEqual([]);
  });

  it("answers 401 when the Basic auth password is wrong, and 200 when it is right", async () => {
    const basicAuth = { username: "openim", password: "s3cret" };
    const { base, seen } = await serve({ basicAuth });
    const wrong = openImRequest({ userId: "u1", basicAuth: { ...basicAuth, password: "guess" } });
    const right = openImRequest({ userId: "u1", basicAuth });

    const denied = await post(`${base}${wrong.url}`, wrong.body, wrong.headers);
    expect(denied.status).toBe(401);
    expect(((await denied.json()) as { errDlt: string }).errDlt).toBe("CREDENTIALS_INVALID");

    const taken = await post(`${base}${right.url}`, right.body, right.headers);
    expect(taken.status).toBe(200);
    expect(seen).toHaveLength(1);
  });

  it("answers 413 when the declared body is over the default 64 KiB", async () => {
    const { base, seen } = await serve();
    const body = JSON.stringify({ userID: "u1", padding: "x".repeat(70 * 1024) });
    const res = await post(`${base}/openim/callbackAfterUserOnlineCommand`, body);

    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ actionCode: 1, errCode: 413, errDlt: "PAYLOAD_TOO_LARGE" });
    expect(seen).toEqual([]);
  });

  it("answers 413 when a chunked body with no length grows over limitBytes", async () => {
    const { base, seen } = await serve({ limitBytes: 1024 });
    const chunk = new TextEncoder().encode(`{"pad":"${"x".repeat(600)}`);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(chunk);
        controller.enqueue(chunk);
        controller.close();
      },
    });
    const res = await fetch(`${base}/openim/callbackAfterUserOnlineCommand`, {
      method: "POST",
      body: stream,
      duplex: "half",
    } as RequestInit);

    expect(res.status).toBe(413);
    expect(((await res.json()) as { errMsg: string }).errMsg).toBe("body is over the 1024-byte limit");
    expect(seen).toEqual([]);
  });

  it("answers 404 UNKNOWN_TENANT when the resolver knows no tenant for the url", async () => {
    const tenants: Record<string, { tenant: string; appId: string }> = {
      acme: { tenant: "acme", appId: "acme-openim" },
    };
    const seen: OpenImCallbackResult[] = [];
    const app = express();
    const handler = openImWebhook({
      resolveTenant: (req) => tenants[String(req.params["tenant"])],
      onEvents: (result) => {
        seen.push(result);
      },
    });
    app.post(["/t/:tenant/openim", "/t/:tenant/openim/:command"], handler);
    const server = app.listen(0, "127.0.0.1");
    await new Promise<void>((resolve) => server.once("listening", resolve));
    closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const req = openImRequest({ userId: "u1" });

    const unknown = await post(`${base}/t/globex${req.url}`, req.body, req.headers);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({
      actionCode: 1,
      errCode: 404,
      errMsg: "no tenant is configured for this url",
      errDlt: "UNKNOWN_TENANT",
      nextCode: 0,
    });

    const known = await post(`${base}/t/acme${req.url}`, req.body, req.headers);
    expect(known.status).toBe(200);
    expect(seen[0]?.events[0]?.tenant).toBe("acme");
  });

  it("answers 503 without the error's text when onEvents throws", async () => {
    const { base } = await serve({
      onEvents: async () => {
        throw new Error("connect ECONNREFUSED redis://:hunter2@10.0.0.5:6379");
      },
    });
    const req = openImRequest({ userId: "u1" });
    const res = await post(`${base}${req.url}`, req.body, req.headers);
    const text = await res.text();

    expect(res.status).toBe(503);
    expect(JSON.parse(text)).toEqual({
      actionCode: 1,
      errCode: 503,
      errMsg: "the callback could not be stored",
      errDlt: "STORE_UNAVAILABLE",
      nextCode: 0,
    });
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("ECONNREFUSED");
  });

  it("answers 400 in the OpenIM envelope when the body is not JSON", async () => {
    const { base, seen } = await serve();
    const res = await post(`${base}/openim/callbackAfterUserOnlineCommand`, "userID=u1");

    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      errCode: 400,
      errDlt: "MALFORMED_BODY",
      errMsg: "body is not valid JSON",
    });
    expect(seen).toEqual([]);
  });

  it("answers OK and reports an unknown command as unrecognized", async () => {
    const { base, seen } = await serve();
    const res = await post(`${base}/openim/callbackAfterGroupCreateCommand`, "{}\n");

    expect(res.status).toBe(200);
    expect(await res.text()).toBe(OK);
    expect(seen).toEqual([
      {
        events: [],
        unrecognized: true,
        unrecognizedReason: "command callbackAfterGroupCreateCommand",
        response: JSON.parse(OK),
      },
    ]);
  });

  it("works behind express.json(), which has already read the body", async () => {
    const { base, seen } = await serve({}, (app) => app.use(express.json()));
    const req = openImRequest({ command: "callbackAfterUserOnlineCommand", userId: "u5", platformId: 2 });
    const res = await post(`${base}${req.url}`, req.body, req.headers);

    expect(res.status).toBe(200);
    expect(seen[0]?.events[0]).toMatchObject({ userId: "u5", platform: "android", background: false });
  });

  it("works behind express.raw(), which leaves a Buffer", async () => {
    const { base, seen } = await serve({}, (app) => app.use(express.raw({ type: "*/*" })));
    const res = await post(`${base}/openim/callbackAfterUserOfflineCommand`, fixture("v3.8-user-offline.txt"));

    expect(res.status).toBe(200);
    expect(seen[0]?.events[0]?.status).toBe("offline");
  });
});
