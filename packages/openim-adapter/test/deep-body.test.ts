import { describe, expect, it } from "vitest";
import { handleCallback, OpenImCallbackError } from "../src/index.js";

describe("a body nested 30,000 levels deep", () => {
  it("is refused as MALFORMED_BODY in OpenIM's envelope, not a stack overflow", () => {
    const deep = `{"callbackCommand":"callbackAfterUserOnlineCommand","userID":"u1","x":${"[".repeat(30_000)}${"]".repeat(30_000)}}`;
    let caught: unknown;
    try {
      handleCallback({ body: deep, path: "/openim/callbackAfterUserOnlineCommand" }, { tenant: "acme", appId: "a" });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(OpenImCallbackError);
    expect(caught).toMatchObject({ code: "MALFORMED_BODY", status: 400, response: { errDlt: "MALFORMED_BODY" } });
  });
});
