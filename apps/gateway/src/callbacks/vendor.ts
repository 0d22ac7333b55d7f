import type { TenantConfig } from "@imrelay/config";
import type { CallbackResult, Provider } from "@imrelay/core";
import * as openim from "@imrelay/openim-adapter";
import * as tencent from "@imrelay/tencent-adapter";

/** The raw request as the gateway hands it to an adapter. */
export interface VendorRequest {
  body: Uint8Array;
  query: Record<string, unknown>;
  headers: Record<string, unknown>;
  path: string;
}

/** A refusal, in the terms every vendor envelope is built from. */
export interface Refusal {
  status: number;
  code: string;
  message: string;
}

/**
 * What the gateway needs from one vendor: where its section of a tenant is,
 * how to run its adapter, and its answer envelopes.
 */
export interface Vendor {
  provider: Provider;
  section(tenant: TenantConfig): { allowIps?: string[] | undefined } | undefined;
  handle(request: VendorRequest, tenant: string, tenantConfig: TenantConfig, now: number): VendorResult;
  ok(): unknown;
  fail(refusal: Refusal): unknown;
}

export interface VendorResult extends CallbackResult<unknown> {
  operationId?: string;
}

/**
 * Tencent Cloud IM: `@imrelay/tencent-adapter` and its `ActionStatus` envelope.
 *
 * @example
 * const out = tencentVendor.handle({ body, query, headers, path }, "acme", config.tenants.acme!, Date.now());
 */
export const tencentVendor: Vendor = {
  provider: "tencent",
  section: (tenant) => tenant.tencent,
  handle(request, tenant, tenantConfig, now) {
    const section = tenantConfig.tencent!;
    return tencent.handleCallback(
      { body: request.body, query: request.query, headers: request.headers },
      { tenant, sdkAppId: section.sdkAppId, token: section.callbackToken, now },
    );
  },
  ok: () => tencent.okAnswer(),
  fail: ({ message }) => tencent.failAnswer(message),
};

/**
 * OpenIM: `@imrelay/openim-adapter` and its `actionCode` envelope.
 *
 * @example
 * res.status(503).json(openimVendor.fail({ status: 503, code: "STORE_UNAVAILABLE", message: "Redis is unavailable" }));
 */
export const openimVendor: Vendor = {
  provider: "openim",
  section: (tenant) => tenant.openim,
  handle(request, tenant, tenantConfig, now) {
    const section = tenantConfig.openim!;
    return openim.handleCallback(
      { body: request.body, query: request.query, headers: request.headers, path: request.path },
      { tenant, appId: section.appId, basicAuth: section.basicAuth, now },
    );
  },
  ok: () => openim.okAnswer(),
  fail: (refusal) => openim.failAnswer(refusal),
};
