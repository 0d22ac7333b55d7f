import { readFileSync } from "node:fs";
import { AdapterEvent } from "@imrelay/core";
import { expect } from "vitest";
import {
  handleCallback,
  type OpenImCallbackOptions,
  type OpenImCallbackRequest,
  type OpenImCallbackResult,
} from "../src/index.js";

/** A fixture exactly as it comes over the wire (kept as .txt so no formatter rewrites the bytes). */
export function fixture(name: string): string {
  return readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");
}

export function fixtureBody(name: string): Record<string, unknown> {
  return JSON.parse(fixture(name)) as Record<string, unknown>;
}

export const TENANT: OpenImCallbackOptions = {
  tenant: "acme",
  appId: "acme-openim",
  now: Date.UTC(2025, 6, 2, 7, 0, 0),
};

/** Calls handleCallback and checks every event against core's schema, so no test can skip that. */
export function accept(request: OpenImCallbackRequest, options: OpenImCallbackOptions = TENANT): OpenImCallbackResult {
  const result = handleCallback(request, options);
  for (const event of result.events) {
    // Strict: the published schema lets unknown fields through, imrelay's own output must not have any.
    expect(AdapterEvent.strict().safeParse(event).error).toBeUndefined();
    expect(event).not.toHaveProperty("raw");
  }
  return result;
}

/** Runs `fn` and returns what it threw, failing the test when it throws nothing. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a throw");
}
