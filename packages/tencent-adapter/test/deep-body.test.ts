import { describe, expect, it } from "vitest";
import { handleCallback, TencentCallbackError } from "../src/index.js";

describe("a body nested 30,000 levels deep", () => {
  it("is refused as MALFORMED_BODY in Tencent's envelope, not a stack overflow", () => {
    const deep = `{"CallbackCommand":"State.StateChange","Info":{"Action":"Login","To_Account":"u1"},"x":${"[".repeat(30_000)}${"]".repeat(30_000)}}`;
    let caught: unknown;
    try {
      handleCallback({ body: deep, query: { SdkAppid: "1400000000" } }, { tenant: "acme", sdkAppId: "1400000000" });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TencentCallbackError);
    expect(caught).toMatchObject({ code: "MALFORMED_BODY", status: 400, response: { ActionStatus: "FAIL" } });
  });
});
