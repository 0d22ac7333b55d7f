import { readFileSync } from "node:fs";
import { AdapterEvent } from "@imrelay/core";
import { expect } from "vitest";
import { type AgoraCallbackOptions, type AgoraCallbackResult, handleCallback } from "../src/index.js";

/** A fixture exactly as it comes over the wire (kept as .txt so no formatter rewrites the bytes). */
export function fixture(name: string): string {
  return readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");
}

export function fixtureBody(name: string): Record<string, unknown> {
  return JSON.parse(fixture(name)) as Record<string, unknown>;
}

export const APP_KEY = "61000000#acme";

/** The documented test vector; `logout-ios.txt` is signed with it. */
export const SECRET = "s3cr3t-rule";
export const VECTOR_CALL_ID = "61000000#acme_25b54a81-1376-4669-bb3d-178339a8f11b";
export const VECTOR_TIMESTAMP = 1642648914742;
export const VECTOR_SECURITY = "50ec10b4c20074a68eabbd87d64b8983";

/** A fixed clock: 2022-01-20T03:21:55.000Z, 258 ms after the sample's timestamp. */
export const NOW = 1642648915000;

export const OPTIONS: AgoraCallbackOptions = { tenant: "acme", appKey: APP_KEY, now: NOW };
export const SIGNED: AgoraCallbackOptions = { ...OPTIONS, secret: SECRET };

/**
 * The vendor's logout sample with some fields changed (`undefined` removes
 * one). `security` signs only `callId` and `timestamp`, so it stays valid
 * unless one of those changes.
 */
export function sampleWith(changes: Record<string, unknown> = {}): string {
  const body: Record<string, unknown> = { ...fixtureBody("logout-ios.txt"), ...changes };
  for (const [key, value] of Object.entries(changes)) if (value === undefined) delete body[key];
  return JSON.stringify(body);
}

/** Calls handleCallback and checks every event against core's schema, so no test can skip that. */
export function accept(body: string | Uint8Array, options: AgoraCallbackOptions = OPTIONS): AgoraCallbackResult {
  const result = handleCallback({ body, query: {}, headers: {} }, options);
  for (const event of result.events) {
    expect(AdapterEvent.safeParse(event).error).toBeUndefined();
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
  expect.fail("expected a throw");
}
