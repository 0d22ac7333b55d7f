import type { IncomingMessage, ServerResponse } from "node:http";
import { beforeEach, describe, expect, it } from "vitest";
import { CallbackError, type CallbackErrorCode } from "../src/index.js";
import {
  createWebhookHandler,
  createWebhookMiddleware,
  type WebhookCallbackRequest,
  type WebhookHandlerSpec,
  type WebhookOptions,
  type WebhookRequest,
  type WebhookResponse,
} from "../src/node.js";
import { chunked, sendJson, serve } from "./serve.js";

const NOW = Date.parse("2025-07-02T07:06:40.000Z");
const ACME = { tenant: "acme" };

interface Result {
  tenant: string;
  request: WebhookCallbackRequest;
  now: number;
  response: { ok: true };
}

/** Every VendorError made in the current test, to look at the causes the answer leaves out. */
const refused: VendorError[] = [];

beforeEach(() => {
  refused.length = 0;
});

/** A vendor's error class whose envelope shows everything a refusal carries. */
class VendorError extends CallbackError {
  readonly response: { ok: false; code: string; message: string };
  constructor(code: CallbackErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.response = { ok: false, code, message };
    refused.push(this);
  }
}

/** What Express's `res.status(code).json(body)` does, over a bare node:http response. */
function jsonResponse(res: ServerResponse): WebhookResponse {
  return {
    get headersSent() {
      return res.headersSent;
    },
    status: (code) => ({ json: (body) => sendJson(res, code, body) }),
  };
}

/**
 * Serves `createWebhookHandler` on a loopback port; `taken` records what
 * onEvents saw. `dress` plays the framework: it may add to the request, or
 * keep the raw response.
 */
async function serveHandler(
  spec: Partial<WebhookHandlerSpec<WebhookRequest, typeof ACME, Result>> = {},
  dress: (req: IncomingMessage, res: ServerResponse) => WebhookRequest = (req) => req,
) {
  const taken: Result[] = [];
  const handler = createWebhookHandler<WebhookRequest, typeof ACME, Result>({
    resolveTenant: () => ACME,
    handle: (request, tenant, now) => ({ tenant: tenant.tenant, request, now, response: { ok: true } }),
    onEvents: (result) => {
      taken.push(result);
    },
    vendorError: VendorError,
    clock: () => NOW,
    ...spec,
  });
  const url = await serve((req, res) => handler(dress(req, res), jsonResponse(res)));
  return { url, taken };
}

function post(url: string, body = '{"userID":"u1"}'): Promise<Response> {
  return fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
}

async function answer(res: Response): Promise<{ status: number; body: unknown }> {
  return { status: res.status, body: await res.json() };
}

describe("createWebhookHandler", () => {
  it("answers 200 with the adapter's response after handing its result to onEvents", async () => {
    const { url, taken } = await serveHandler();
    expect(await answer(await post(`${url}/hooks/online?Sign=abc&to=a&to=b`))).toEqual({
      status: 200,
      body: { ok: true },
    });
    expect(taken).toHaveLength(1);
    const [result] = taken;
    expect(result).toMatchObject({ tenant: "acme", now: NOW });
    expect(Buffer.from(result!.request.body).toString("utf8")).toBe('{"userID":"u1"}');
    expect(result!.request.path).toBe("/hooks/online");
    expect(result!.request.query).toEqual({ Sign: "abc", to: ["a", "b"] });
    expect(result!.request.headers["content-type"]).toBe("application/json");
  });

  it("uses the query and original path a framework already put on the request", async () => {
    const { url, taken } = await serveHandler({}, (req) =>
      Object.assign(req, { query: { command: "x" }, originalUrl: `/mounted${req.url}` }),
    );
    expect((await post(`${url}/openim?command=ignored`)).status).toBe(200);
    expect(taken[0]?.request).toMatchObject({ query: { command: "x" }, path: "/mounted/openim" });
  });

  it("answers 404 UNKNOWN_TENANT in the vendor's envelope when resolveTenant finds no tenant", async () => {
    const { url, taken } = await serveHandler({ resolveTenant: async () => undefined });
    expect(await answer(await post(url))).toEqual({
      status: 404,
      body: { ok: false, code: "UNKNOWN_TENANT", message: "no tenant is configured for this URL" },
    });
    expect(taken).toEqual([]);
  });

  it("says unknownTenantMessage when it is given", async () => {
    const { url } = await serveHandler({ resolveTenant: () => undefined, unknownTenantMessage: "no such tenant" });
    expect(await answer(await post(url))).toMatchObject({ status: 404, body: { message: "no such tenant" } });
  });

  it("answers 503 STORE_UNAVAILABLE without the text of onEvents' error", async () => {
    const { url } = await serveHandler({
      onEvents: async () => {
        throw new Error("connect ECONNREFUSED redis://:hunter2@10.0.0.5:6379");
      },
    });
    const res = await post(url);
    const text = await res.text();
    expect(res.status).toBe(503);
    expect(JSON.parse(text)).toEqual({
      ok: false,
      code: "STORE_UNAVAILABLE",
      message: "the callback could not be stored",
    });
    expect(text).not.toContain("hunter2");
    // The cause stays on the error for the server's own logs.
    expect(refused[0]?.cause).toMatchObject({ cause: { message: expect.stringContaining("hunter2") } });
  });

  it("passes a CallbackError from the adapter through with its code, status and message", async () => {
    const { url, taken } = await serveHandler({
      handle: () => {
        throw new CallbackError("SIGNATURE_MISMATCH", "Sign does not match");
      },
    });
    expect(await answer(await post(url))).toEqual({
      status: 401,
      body: { ok: false, code: "SIGNATURE_MISMATCH", message: "Sign does not match" },
    });
    expect(taken).toEqual([]);
  });

  it("answers the vendor's own error as it is, without wrapping it again", async () => {
    const { url } = await serveHandler({
      handle: () => {
        throw new VendorError("APP_ID_MISMATCH", "SdkAppid is another app's");
      },
    });
    expect(await answer(await post(url))).toEqual({
      status: 403,
      body: { ok: false, code: "APP_ID_MISMATCH", message: "SdkAppid is another app's" },
    });
    expect(refused).toHaveLength(1);
  });

  it("answers 500 INTERNAL 'internal error' for any other error, without its text", async () => {
    const { url } = await serveHandler({
      handle: () => {
        throw new TypeError("cannot read properties of undefined (reading 'secret-field')");
      },
    });
    const res = await post(url);
    const text = await res.text();
    expect(res.status).toBe(500);
    expect(JSON.parse(text)).toEqual({ ok: false, code: "INTERNAL", message: "internal error" });
    expect(text).not.toContain("secret-field");
    expect(refused[0]?.cause).toBeInstanceOf(TypeError);
  });

  it("answers 500 INTERNAL when resolveTenant rejects", async () => {
    const { url } = await serveHandler({ resolveTenant: () => Promise.reject(new Error("config store down")) });
    expect(await answer(await post(url))).toEqual({
      status: 500,
      body: { ok: false, code: "INTERNAL", message: "internal error" },
    });
  });

  it("answers 413 PAYLOAD_TOO_LARGE in the vendor's envelope over limitBytes, declared or chunked", async () => {
    const { url, taken } = await serveHandler({ limitBytes: 32 });
    const over = { ok: false, code: "PAYLOAD_TOO_LARGE", message: "body is over the 32-byte limit" };
    expect(await answer(await post(url, "x".repeat(33)))).toEqual({ status: 413, body: over });
    expect(await answer(await fetch(url, chunked("x".repeat(20), "x".repeat(20))))).toEqual({
      status: 413,
      body: over,
    });
    expect(taken).toEqual([]);
  });

  it("refuses bodies over 64 KiB by default", async () => {
    const { url } = await serveHandler();
    expect((await post(url, "x".repeat(64 * 1024))).status).toBe(200);
    expect((await post(url, "x".repeat(64 * 1024 + 1))).status).toBe(413);
  });

  it("leaves the answer alone when onEvents already sent one and then failed", async () => {
    let raw!: ServerResponse;
    const { url } = await serveHandler(
      {
        onEvents: () => {
          sendJson(raw, 202, { taken: "elsewhere" });
          throw new Error("too late");
        },
      },
      (req, res) => {
        raw = res;
        return req;
      },
    );
    expect(await answer(await post(url))).toEqual({ status: 202, body: { taken: "elsewhere" } });
  });
});

describe("createWebhookMiddleware", () => {
  type Tenant = { tenant: string };

  /** A wrapper as an adapter writes one, served with `options`; returns the tenant each accepted call was for. */
  async function serveMiddleware(options: WebhookOptions<WebhookRequest, Tenant, Result>) {
    const handler = createWebhookMiddleware(options, {
      handle: (request, tenant: Tenant, now): Result => ({
        tenant: tenant.tenant,
        request,
        now,
        response: { ok: true },
      }),
      vendorError: VendorError,
    });
    return serve((req, res) => handler(req, jsonResponse(res)));
  }

  it("uses the one tenant the options hold, and hands results to their onEvents", async () => {
    const taken: Result[] = [];
    const url = await serveMiddleware({ tenant: "acme", onEvents: (result) => void taken.push(result) });
    expect((await post(url)).status).toBe(200);
    expect(taken.map((result) => result.tenant)).toEqual(["acme"]);
  });

  it("asks resolveTenant per request, and answers 404 when it finds none", async () => {
    const taken: Result[] = [];
    const url = await serveMiddleware({
      resolveTenant: (req) => (req.url?.startsWith("/globex") ? { tenant: "globex" } : undefined),
      onEvents: (result) => void taken.push(result),
    });
    expect((await post(`${url}/globex`)).status).toBe(200);
    expect(await answer(await post(`${url}/initech`))).toMatchObject({ status: 404, body: { code: "UNKNOWN_TENANT" } });
    expect(taken.map((result) => result.tenant)).toEqual(["globex"]);
  });

  it("applies the options' limitBytes", async () => {
    const url = await serveMiddleware({ tenant: "acme", limitBytes: 8, onEvents: () => {} });
    expect(await answer(await post(url, "x".repeat(9)))).toMatchObject({
      status: 413,
      body: { message: "body is over the 8-byte limit" },
    });
  });
});
