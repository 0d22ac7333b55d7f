import { readFileSync } from "node:fs";
import type { CallbackRequest } from "@imrelay/core";
import { AdapterEvent } from "@imrelay/core";
import { expect } from "vitest";
import { handleCallback, type TencentCallbackOptions, type TencentCallbackResult } from "../src/index.js";

/** A fixture exactly as it comes over the wire. */
export function fixture(name: string): string {
  return readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");
}

export const SDK_APP_ID = "1400000000";
/** The test vector from Tencent's callback docs. */
export const TOKEN = "xxxxyyyy";
export const VECTOR_TIME = 1669872112;
export const VECTOR_SIGN = "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061";

/** A fixed clock: 2021-08-25T09:22:12.510Z, 13 ms after the docs' EventTime. */
export const NOW = 1629883332510;

export const OPTIONS: TencentCallbackOptions = { tenant: "acme", sdkAppId: SDK_APP_ID, now: NOW };

/** The query Tencent appends to a State.StateChange, unsigned. */
export function stateChangeQuery(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    SdkAppid: SDK_APP_ID,
    CallbackCommand: "State.StateChange",
    contenttype: "json",
    ClientIP: "127.0.0.1",
    OptPlatform: "IOS",
    ...overrides,
  };
}

/** Calls handleCallback and checks every event against core's schema, so no test can skip that. */
export function accept(request: CallbackRequest, options: TencentCallbackOptions = OPTIONS): TencentCallbackResult {
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
  expect.fail("expected a throw");
}
