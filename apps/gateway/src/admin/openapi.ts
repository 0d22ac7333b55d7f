import type { Express, RequestHandler } from "express";
import { createDocument, type oas31, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject } from "zod-openapi";
import { DELIVERY_OPERATIONS } from "./deliveries-routes.js";
import { ENDPOINT_OPERATIONS } from "./endpoints-routes.js";
import { type AdminOperation, defineOperation, mountOperation } from "./operation.js";
import { PRESENCE_OPERATIONS } from "./presence-routes.js";
import { dashboardOperation } from "./queue-dashboard.js";
import { AdminErrorBody, OpenApiAnswer } from "./schemas.js";
import { listUnrecognized } from "./unrecognized-routes.js";

export const OPENAPI_PATH = "/v1/openapi.json";

/**
 * The admin API's version, as the document's `info.version`: the `/v1` of its
 * paths, with a minor step for each route or field added (it only grows within v1).
 */
export const ADMIN_API_VERSION = "1.1.0";

export const getOpenApi = defineOperation({
  id: "getOpenApi",
  method: "get",
  path: OPENAPI_PATH,
  tag: "meta",
  summary: "This document: the OpenAPI 3.1 description of the admin API",
  responses: { 200: { description: "the OpenAPI document", schema: OpenApiAnswer } },
});

/** Every admin operation the gateway serves, in the document's order. */
export const ADMIN_OPERATIONS: readonly AdminOperation[] = [
  ...PRESENCE_OPERATIONS,
  ...DELIVERY_OPERATIONS,
  ...ENDPOINT_OPERATIONS,
  listUnrecognized,
  dashboardOperation,
  getOpenApi,
];

/** `/v1/tenants/:tenant/endpoints` → `/v1/tenants/{tenant}/endpoints`. */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

const TAGS = [
  { name: "presence", description: "users' presence across providers and platforms" },
  { name: "deliveries", description: "deliveries to tenant endpoints, dead letters and replay" },
  { name: "endpoints", description: "tenant endpoints' run-time state" },
  { name: "callbacks", description: "vendor callbacks kept for inspection" },
  { name: "meta", description: "this document" },
];

function operationObject(operation: AdminOperation): ZodOpenApiOperationObject {
  const responses: ZodOpenApiOperationObject["responses"] = {};
  const answers: Record<number, AdminOperation["responses"][number]> = {
    ...operation.responses,
    401: { description: "no valid admin token (`UNAUTHORIZED`)", schema: AdminErrorBody },
  };
  // With no admin token configured every admin route answers 404 (`NOT_FOUND`): the API is off, never open.
  const off = "the admin API is off: no admin token is configured (`NOT_FOUND`)";
  const declared = answers[404];
  answers[404] = declared
    ? { ...declared, description: `${declared.description}; or ${off}` }
    : { description: off, schema: AdminErrorBody };
  for (const [status, answer] of Object.entries(answers)) {
    responses[status as `${1 | 2 | 3 | 4 | 5}${string}`] = {
      description: answer.description,
      ...(answer.schema || answer.contentType
        ? { content: { [answer.contentType ?? "application/json"]: answer.schema ? { schema: answer.schema } : {} } }
        : {}),
    };
  }
  return {
    operationId: operation.id,
    summary: operation.summary,
    ...(operation.description ? { description: operation.description } : {}),
    tags: [operation.tag],
    security: operation.basicAuth ? [{ bearer: [] }, { basic: [] }] : [{ bearer: [] }],
    ...(operation.params || operation.query
      ? {
          requestParams: {
            ...(operation.params ? { path: operation.params } : {}),
            ...(operation.query ? { query: operation.query } : {}),
          },
        }
      : {}),
    ...(operation.body
      ? { requestBody: { required: true, content: { "application/json": { schema: operation.body } } } }
      : {}),
    responses,
  };
}

/**
 * The OpenAPI 3.1 document of the admin API, written from the zod schemas
 * its routes validate with (`zod-openapi`).
 *
 * @example
 * writeFileSync("docs/openapi.json", JSON.stringify(adminOpenApiDocument(), null, 2));
 */
export function adminOpenApiDocument(operations: readonly AdminOperation[] = ADMIN_OPERATIONS): oas31.OpenAPIObject {
  const paths: ZodOpenApiPathsObject = {};
  for (const operation of operations) {
    const path = openApiPath(operation.path);
    paths[path] = { ...paths[path], [operation.method]: operationObject(operation) };
  }
  return createDocument({
    openapi: "3.1.0",
    info: {
      title: "imrelay admin API",
      version: ADMIN_API_VERSION,
      description:
        "The gateway's admin API. Off (every route answers 404) unless `admin.token` or `IMRELAY_ADMIN_TOKEN` is set; " +
        "then every call needs `Authorization: Bearer <token>`.",
      license: { name: "MIT", identifier: "MIT" },
    },
    tags: TAGS,
    paths,
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "the admin token" },
        basic: { type: "http", scheme: "basic", description: "the admin token as the password, any user name" },
      },
    },
  });
}

/**
 * `GET /v1/openapi.json`, behind the admin token like every admin route.
 * The document is built once, on the first request.
 */
export function mountOpenApiRoute(app: Express, requireAdmin: RequestHandler): void {
  let document: oas31.OpenAPIObject | undefined;
  mountOperation(app, getOpenApi, [requireAdmin], (_input, res) => {
    document ??= adminOpenApiDocument();
    res.json(document);
  });
}
