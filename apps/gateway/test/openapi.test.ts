import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import type { Express } from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_OPERATIONS, adminOpenApiDocument, openApiPath } from "../src/admin/openapi.js";
import type { GatewayListener } from "../src/server.js";
import {
  dropKeys,
  postTencent,
  type Sink,
  type Stack,
  startSink,
  startStack,
  tencentCallback,
  waitFor,
  webhookSecret,
} from "./stack.js";

// The admin API's document against the admin API: every route the Express app has is in it, and
// every route answers each status it lists, with a body its schema (in the document) accepts.
const prefix = `test-${randomUUID()}`;
const TOKEN = `tencent-token-${randomUUID()}`;
const ADMIN_TOKEN = `admin-token-${randomUUID()}`;
const committed = JSON.parse(readFileSync(new URL("../../../docs/openapi.json", import.meta.url), "utf8"));

type Operation = { operationId: string; responses: Record<string, { content?: Record<string, unknown> }> };
type Document = { openapi: string; paths: Record<string, Record<string, Operation>> };

let stack: Stack;
let off: Stack;
let ok: Sink;
let broken: Sink;
let document: Document;
let validator: Ajv2020;
/** Every status each operation was seen to answer. */
const seen = new Map<string, Set<number>>();

const pointer = (...parts: string[]) => parts.map((p) => p.replaceAll("~", "~0").replaceAll("/", "~1")).join("/");

/** The document's path template and operation for a request, by matching the path against the templates. */
function operationOf(method: string, path: string): { template: string; operation: Operation } {
  const bare = path.split("?")[0]!;
  for (const [template, item] of Object.entries(document.paths)) {
    const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}$`);
    const operation = item[method.toLowerCase()];
    if (pattern.test(bare) && operation) return { template, operation };
  }
  throw new Error(`${method} ${bare} is not in the OpenAPI document`);
}

/** Calls the gateway and checks the answer against the document: a listed status, a body its schema accepts. */
async function call(
  target: Stack,
  method: "GET" | "POST",
  path: string,
  { body, token = ADMIN_TOKEN }: { body?: unknown; token?: string | null } = {},
) {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await target.call(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const { template, operation } = operationOf(method, path);
  const listed = operation.responses[String(res.status)];
  expect(listed, `${method} ${path} answered ${res.status}, which the document does not list`).toBeDefined();
  const media = Object.keys(listed!.content ?? {})[0];
  if (media === "application/json") {
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    const ref = `openapi#/${pointer("paths", template, method.toLowerCase(), "responses", String(res.status), "content", media, "schema")}`;
    const validate = validator.getSchema(ref)!;
    expect(validate(res.json), `${method} ${path} ${res.status}: ${JSON.stringify(validate.errors)}`).toBe(true);
  } else if (media) {
    expect(res.headers.get("content-type")).toContain(media);
  }
  if (!seen.has(operation.operationId)) seen.set(operation.operationId, new Set());
  seen.get(operation.operationId)!.add(res.status);
  return res;
}

/** A request that reaches each operation: its path with sample params, and a valid body. */
const SAMPLES: Record<string, { path: string; body?: unknown }> = {
  getPresence: { path: "/v1/tenants/acme/users/alice/presence" },
  queryPresence: { path: "/v1/tenants/acme/presence/query", body: { userIds: ["alice"] } },
  listDeliveries: { path: "/v1/deliveries?state=failed" },
  getDelivery: { path: "/v1/deliveries/nothing" },
  retryDelivery: { path: "/v1/deliveries/nothing/retry" },
  recoverEndpoint: { path: "/v1/tenants/acme/endpoints/ok/recover", body: { since: new Date(0).toISOString() } },
  listEndpoints: { path: "/v1/tenants/acme/endpoints" },
  disableEndpoint: { path: "/v1/tenants/acme/endpoints/ok/disable", body: {} },
  enableEndpoint: { path: "/v1/tenants/acme/endpoints/ok/enable" },
  listUnrecognized: { path: "/v1/unrecognized" },
  queueDashboard: { path: "/admin/queues" },
  getOpenApi: { path: "/v1/openapi.json" },
};

/** Each route the Express app has, as `METHOD /path`; a mounted sub-app (the dashboard) as GET of its mount path. */
function expressRoutes(app: Express): string[] {
  type Layer = { route?: { path: string; methods: Record<string, boolean> }; name: string; rawPath?: unknown };
  const routes: string[] = [];
  for (const layer of (app as unknown as { router: { stack: Layer[] } }).router.stack) {
    if (layer.route) {
      for (const method of Object.keys(layer.route.methods)) routes.push(`${method.toUpperCase()} ${layer.route.path}`);
    } else if (["router", "mounted_app"].includes(layer.name) && typeof layer.rawPath === "string") {
      routes.push(`GET ${layer.rawPath}`);
    }
  }
  return routes;
}

beforeAll(async () => {
  [ok, broken] = await Promise.all([startSink(200), startSink(500, "always down")]);
  const tenants = {
    acme: {
      tencent: { sdkAppId: "1400000000", callbackToken: TOKEN },
      endpoints: [
        { id: "ok", url: ok.url, secret: webhookSecret() },
        { id: "broken", url: broken.url, secret: [webhookSecret(), webhookSecret()] },
      ],
    },
  };
  stack = await startStack({ tenants, prefix, adminToken: ADMIN_TOKEN });
  off = await startStack({ tenants, prefix: `${prefix}:off`, worker: false });
  document = (await stack.call("/v1/openapi.json", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }))
    .json as unknown as Document;
  validator = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(validator);
  validator.addSchema(document, "openapi");

  const at = Date.now() - 5_000;
  const login = tencentCallback({ token: TOKEN, sdkAppId: "1400000000", userId: "alice", eventTime: at });
  expect((await postTencent(stack, "acme", login)).status).toBe(200);
  const novel = tencentCallback({
    token: TOKEN,
    sdkAppId: "1400000000",
    userId: "alice",
    action: "Teleport",
    eventTime: at + 1,
  });
  expect((await postTencent(stack, "acme", novel)).status).toBe(200);
});

afterAll(async () => {
  await stack?.close();
  await off?.close();
  await Promise.all([ok?.close(), broken?.close()]);
  await dropKeys(prefix);
});

describe("the admin API's OpenAPI document", () => {
  it("is committed as the build writes it (run `pnpm build` when this fails)", () => {
    expect(committed).toEqual(JSON.parse(JSON.stringify(adminOpenApiDocument())));
  });

  it("is served at GET /v1/openapi.json behind the admin token, as OpenAPI 3.1", async () => {
    expect(document.openapi).toBe("3.1.0");
    expect(document).toEqual(committed);
    expect((await stack.call("/v1/openapi.json")).status).toBe(401);
    expect((await off.call("/v1/openapi.json", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(
      404,
    );
  });

  it("lists every admin route the Express app has, and nothing it does not have", () => {
    const listener = stack.gateway.server.listeners("request")[0] as GatewayListener;
    const notAdmin = new Set(["GET /healthz", "GET /readyz", "GET /metrics"]);
    const registered = expressRoutes(listener.app)
      .filter((route) => !notAdmin.has(route))
      .map((route) => route.replace(/:([A-Za-z0-9_]+)/g, "{$1}"));
    const documented = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(registered.length).toBeGreaterThan(0);
    expect([...new Set(registered)].sort()).toEqual(documented.sort());
    expect(Object.keys(SAMPLES).sort()).toEqual(ADMIN_OPERATIONS.map((operation) => operation.id).sort());
    expect(ADMIN_OPERATIONS.map((operation) => openApiPath(operation.path))).toContain(
      "/v1/tenants/{tenant}/users/{userId}/presence",
    );
  });

  it("answers each route as documented on the happy path", async () => {
    const dead = await waitFor(async () => {
      const res = await call(stack, "GET", "/v1/deliveries?state=failed&endpoint=broken");
      return (res.json.deliveries as Array<{ id: string }>)[0];
    }, "the broken endpoint's dead letter");
    const done = await waitFor(async () => {
      const res = await call(stack, "GET", "/v1/deliveries?state=completed&tenant=acme");
      return (res.json.deliveries as Array<{ id: string }>)[0];
    }, "the ok endpoint's delivery");

    const presence = await call(stack, "GET", "/v1/tenants/acme/users/alice/presence");
    expect(presence.json).toMatchObject({ userId: "alice", online: true });
    const batch = await call(stack, "POST", "/v1/tenants/acme/presence/query", { body: { userIds: ["alice", "bob"] } });
    expect(Object.keys(batch.json.users as object)).toEqual(["alice", "bob"]);
    expect((await call(stack, "GET", `/v1/deliveries/${dead.id}`)).json).toMatchObject({ state: "failed" });
    expect((await call(stack, "GET", "/v1/tenants/acme/endpoints")).json).toMatchObject({
      endpoints: [
        { id: "ok", secrets: 1, filter: null },
        { id: "broken", secrets: 2, filter: null },
      ],
    });
    const kept = await call(stack, "GET", "/v1/unrecognized?tenant=acme&limit=10");
    expect(kept.json.callbacks).toHaveLength(1);
    expect((await call(stack, "GET", "/admin/queues")).status).toBe(200);
    expect((await call(stack, "GET", "/v1/openapi.json")).status).toBe(200);

    expect((await call(stack, "POST", `/v1/deliveries/${dead.id}/retry`)).status).toBe(202);
    await waitFor(async () => {
      const res = await call(stack, "GET", `/v1/deliveries/${dead.id}`);
      return res.json.state === "failed";
    }, "the replayed dead letter to fail again");
    const since = new Date(Date.now() - 60_000).toISOString();
    const recovered = await call(stack, "POST", "/v1/tenants/acme/endpoints/broken/recover", { body: { since } });
    expect(recovered.json).toMatchObject({ tenant: "acme", endpointId: "broken", retried: 1 });
    await call(stack, "POST", "/v1/tenants/acme/endpoints/broken/disable", { body: { reason: "migrating" } });
    expect((await call(stack, "POST", "/v1/tenants/acme/endpoints/broken/recover", { body: { since } })).status).toBe(
      409,
    );
    expect((await call(stack, "POST", "/v1/tenants/acme/endpoints/broken/enable")).json).toMatchObject({
      wasDisabled: true,
    });
    expect((await call(stack, "POST", `/v1/deliveries/${done.id}/retry`)).status).toBe(409);
  });

  it("answers each documented error with the error body", async () => {
    const refusals: Array<[method: "GET" | "POST", path: string, body: unknown, status: number]> = [
      ["GET", "/v1/tenants/nobody/users/alice/presence", undefined, 404],
      ["POST", "/v1/tenants/acme/presence/query", { users: ["alice"] }, 400],
      ["POST", "/v1/tenants/acme/presence/query", { userIds: Array.from({ length: 1001 }, (_, i) => `u${i}`) }, 400],
      ["POST", "/v1/tenants/nobody/presence/query", { userIds: ["alice"] }, 404],
      ["GET", "/v1/deliveries?state=lost", undefined, 400],
      ["GET", "/v1/deliveries?limit=501", undefined, 400],
      ["GET", "/v1/deliveries/nothing", undefined, 404],
      ["POST", "/v1/deliveries/nothing/retry", undefined, 404],
      ["POST", "/v1/tenants/acme/endpoints/ok/recover", { since: "yesterday-ish" }, 400],
      ["POST", "/v1/tenants/acme/endpoints/nope/recover", { since: new Date().toISOString() }, 404],
      ["GET", "/v1/tenants/nobody/endpoints", undefined, 404],
      ["POST", "/v1/tenants/acme/endpoints/ok/disable", { reason: 42 }, 400],
      ["POST", "/v1/tenants/acme/endpoints/nope/disable", {}, 404],
      ["POST", "/v1/tenants/acme/endpoints/nope/enable", undefined, 404],
      ["GET", "/v1/unrecognized?limit=0", undefined, 400],
    ];
    for (const [method, path, body, status] of refusals) {
      const res = await call(stack, method, path, { body });
      expect(res.status, `${method} ${path}`).toBe(status);
    }
    const state = await call(stack, "GET", "/v1/deliveries?state=lost");
    expect(state.json.error).toEqual({ code: "INVALID_STATE", message: expect.stringContaining("query.state") });
    const bad = await call(stack, "POST", "/v1/tenants/acme/presence/query", { body: { userIds: ["a", ""] } });
    expect(bad.json.error).toEqual({
      code: "INVALID_REQUEST",
      message: "body.userIds[1]: a user id is a non-empty string",
    });
  });

  it("answers 401 without the token, and 404 on a gateway with no admin token, on every route", async () => {
    for (const { id, method, path } of ADMIN_OPERATIONS) {
      const sample = SAMPLES[id]!;
      const verb = method.toUpperCase() as "GET" | "POST";
      expect((await call(stack, verb, sample.path, { body: sample.body, token: null })).status, path).toBe(401);
      expect((await call(stack, verb, sample.path, { body: sample.body, token: "wrong-token" })).status).toBe(401);
      expect((await call(off, verb, sample.path, { body: sample.body })).status, path).toBe(404);
    }
  });

  it("saw every operation answer every status the document lists", () => {
    const missing = Object.values(document.paths).flatMap((item) =>
      Object.values(item).flatMap(({ operationId, responses }) =>
        Object.keys(responses)
          .filter((status) => !seen.get(operationId)?.has(Number(status)))
          .map((status) => `${operationId} ${status}`),
      ),
    );
    expect(missing).toEqual([]);
  });
});
