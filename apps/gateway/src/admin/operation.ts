import express, { type Express, type Request, type RequestHandler, type Response } from "express";
import type * as z from "zod";
import { adminError } from "./auth.js";

/** One documented answer of an operation: JSON validated by `schema`, or another media type. */
export interface AdminAnswer {
  description: string;
  schema?: z.ZodType;
  /** @default "application/json" */
  contentType?: string;
}

/**
 * One admin route, described once: the routes validate their input with
 * these schemas and the OpenAPI document is written from the same objects.
 */
export interface AdminOperation {
  /** The OpenAPI operationId. */
  id: string;
  method: "get" | "post";
  /** Express style: `/v1/tenants/:tenant/endpoints`. */
  path: string;
  summary: string;
  description?: string;
  tag: "presence" | "deliveries" | "endpoints" | "callbacks" | "meta";
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodObject;
  /** Largest JSON body taken. @default "16kb" */
  bodyLimit?: string;
  /** Every status it answers, beside the 401 every admin route gives. */
  responses: Record<number, AdminAnswer>;
  /** The error code of a bad field (`"query.state"`), where it is not `INVALID_REQUEST`. */
  invalidCodes?: Record<string, string>;
  /** Auth schemes beside the bearer token (the dashboard takes Basic). */
  basicAuth?: boolean;
}

type Parsed<S> = S extends z.ZodType ? z.output<S> : undefined;

/** What a handler gets: the operation's params, query and body, validated and with their defaults. */
export interface OperationInput<O extends AdminOperation> {
  params: Parsed<O["params"]>;
  query: Parsed<O["query"]>;
  body: Parsed<O["body"]>;
}

/** Keeps the operation's literal schema types, so its handler's input is typed from them. */
export function defineOperation<const O extends AdminOperation>(operation: O): O {
  return operation;
}

const DEFAULT_BODY_LIMIT = "16kb";

type Location = "params" | "query" | "body";

/** `body.userIds[3]: a user id is a non-empty string` for each issue. */
function describeIssues(location: Location, issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((issue) => {
      let path: string = location;
      for (const key of issue.path) path += typeof key === "number" ? `[${key}]` : `.${String(key)}`;
      return `${path}: ${issue.message}`;
    })
    .join("; ");
}

/**
 * Mounts an operation: `requireAdmin`, then the guards (a known tenant…), the
 * JSON body parser when it takes a body, the validation of params, query and
 * body (400 with the field's path and what is wrong), then the handler.
 *
 * @example
 * mountOperation(app, getPresence, [requireAdmin, knownTenant], async ({ params }, res) => {
 *   res.json(await readPresence({ redis, keys }, params.tenant, params.userId));
 * });
 */
export function mountOperation<const O extends AdminOperation>(
  app: Express,
  operation: O,
  guards: RequestHandler[],
  handler: (input: OperationInput<O>, res: Response, req: Request) => unknown,
): void {
  const parsers: RequestHandler[] = operation.body
    ? [express.json({ limit: operation.bodyLimit ?? DEFAULT_BODY_LIMIT })]
    : [];
  const validate: RequestHandler = async (req, res) => {
    const input: Record<Location, unknown> = { params: undefined, query: undefined, body: undefined };
    const sources: Record<Location, unknown> = {
      params: req.params,
      query: req.query,
      // No body, or one that is not JSON (the parser leaves it), reads as {}: the schema says what is missing.
      body: req.body ?? {},
    };
    for (const location of ["params", "query", "body"] as const) {
      const schema = operation[location];
      if (!schema) continue;
      const result = schema.safeParse(sources[location]);
      if (!result.success) {
        const field = `${location}.${String(result.error.issues[0]?.path[0] ?? "")}`;
        const code = operation.invalidCodes?.[field] ?? "INVALID_REQUEST";
        adminError(res, 400, code, describeIssues(location, result.error.issues));
        return;
      }
      input[location] = result.data;
    }
    await handler(input as unknown as OperationInput<O>, res, req);
  };
  app[operation.method](operation.path, ...guards, ...parsers, validate);
}
