import { CALLBACK_ERROR_STATUS, CallbackError } from "@imrelay/core";
import { describe, expect, it } from "vitest";
import { failAnswer, NeteaseCallbackError, okAnswer } from "../src/index.js";

describe("answers", () => {
  it("OK is NetEase's API envelope with code 200", () => {
    expect(JSON.stringify(okAnswer())).toBe('{"code":200}');
  });

  it("a failure carries the HTTP status as code and the message as desc", () => {
    const refusal = { status: 429, code: "RATE_LIMITED", message: "tenant acme is over its rate" };
    expect(JSON.stringify(failAnswer(refusal))).toBe('{"code":429,"desc":"tenant acme is over its rate"}');
  });

  it("builds an envelope for a gateway's own refusals, from any CallbackError", () => {
    const err = new CallbackError("STORE_UNAVAILABLE", "Redis is unavailable; the event was not queued");
    expect(failAnswer(err)).toEqual({ code: 503, desc: "Redis is unavailable; the event was not queued" });
    expect(failAnswer({ status: 413, message: "body is over the 65536-byte limit" })).toEqual({
      code: 413,
      desc: "body is over the 65536-byte limit",
    });
  });
});

describe("NeteaseCallbackError", () => {
  it.each(Object.entries(CALLBACK_ERROR_STATUS))("has code %s, status %i and the matching envelope", (code, status) => {
    const err = new NeteaseCallbackError(code as keyof typeof CALLBACK_ERROR_STATUS, "why");
    expect(err).toBeInstanceOf(CallbackError);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe("NeteaseCallbackError");
    expect(err).toMatchObject({ code, status, message: "why", response: { code: status, desc: "why" } });
  });
});
