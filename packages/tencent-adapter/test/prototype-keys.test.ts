import { AdapterEvent } from "@imrelay/core";
import { describe, expect, it } from "vitest";
import { handleCallback } from "../src/index.js";

const now = 1629883340000;

function callback(optPlatform: string, info: Record<string, string>, kicked: string[] = []) {
  return handleCallback(
    {
      body: JSON.stringify({
        CallbackCommand: "State.StateChange",
        EventTime: 1629883332497,
        Info: { To_Account: "u1", ...info },
        KickedDevice: kicked.map((Platform) => ({ Platform })),
      }),
      query: { SdkAppid: "1400000000", CallbackCommand: "State.StateChange", OptPlatform: optPlatform },
    },
    { tenant: "acme", sdkAppId: "1400000000", now },
  );
}

describe("vendor values that name Object.prototype members", () => {
  it("normalize to unknown and other, and still give a valid event", () => {
    const out = callback("constructor", { Action: "Login", Reason: "Register" }, ["__proto__", "toString"]);
    expect(out.events[0]).toMatchObject({ platform: "unknown", kickedPlatforms: ["unknown", "unknown"] });
    expect(AdapterEvent.safeParse(out.events[0]).success).toBe(true);

    const logout = callback("IOS", { Action: "Logout", Reason: "constructor" });
    expect(logout.events[0]).toMatchObject({ status: "offline", reason: "other" });
    expect(AdapterEvent.safeParse(logout.events[0]).success).toBe(true);
  });
});
