import { describe, expect, it } from "vitest";
import { failAnswer, okAnswer, TencentCallbackError } from "../src/index.js";

describe("answers", () => {
  it("builds Tencent's OK body", () => {
    expect(JSON.stringify(okAnswer())).toBe('{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}');
  });

  it("builds Tencent's FAIL body with the reason", () => {
    expect(JSON.stringify(failAnswer("tenant acme is over its rate"))).toBe(
      '{"ActionStatus":"FAIL","ErrorCode":1,"ErrorInfo":"tenant acme is over its rate"}',
    );
  });

  it("gives a TencentCallbackError the status of its code and a FAIL body", () => {
    const err = new TencentCallbackError("RATE_LIMITED", "tenant acme is over its rate");
    expect(err.name).toBe("TencentCallbackError");
    expect(err.status).toBe(429);
    expect(err.response).toEqual(failAnswer("tenant acme is over its rate"));
  });
});
