import { readFileSync } from "node:fs";
import { AdapterEvent, type CallbackRequest } from "@imrelay/core";
import { expect } from "vitest";
import { handleCallback, type NeteaseCallbackOptions, type NeteaseCallbackResult } from "../src/index.js";

/** A fixture exactly as it comes over the wire. */
export function fixture(name: string): string {
  return readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");
}

export const APP_KEY = "0123456789abcdef0123456789abcdef";

/** The checksum test vector (PROTOCOLS: NetEase). */
export const VECTOR = {
  appSecret: "c8c1d3e5a7f9",
  curTime: "1608877682500",
  md5: "17fc2b61df5fa5d7112a0c62c4b54916",
  checkSum: "74cbed0ebf586653214fb612fa3b661f1e9006fc",
  probeMd5: "99914b932bd37a50b983c5e7c90ae93b",
  probeCheckSum: "5ca21e627badc2ce16ce72d1f218dbfa1f441957",
} as const;

/** A fixed clock: 2020-12-25T06:28:02.510Z, a few seconds after the vendor examples' timestamps. */
export const NOW = 1608877682510;

export const OPTIONS: NeteaseCallbackOptions = { tenant: "acme", appKey: APP_KEY, now: NOW };

/** Calls handleCallback and checks every event against core's schema, so no test can skip that. */
export function accept(request: CallbackRequest, options: NeteaseCallbackOptions = OPTIONS): NeteaseCallbackResult {
  const result = handleCallback(request, options);
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

/** A copy body as compact JSON. */
export function copy(fields: Record<string, unknown>): string {
  return JSON.stringify(fields);
}
