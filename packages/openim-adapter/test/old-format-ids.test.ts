import { describe, expect, it } from "vitest";
import { handleCallback } from "../src/index.js";

const body = JSON.stringify({ callbackCommand: "callbackUserOfflineCommand", userID: "u1", seq: 42, connID: "" });
const idAt = (now: number, headers: Record<string, string> = {}) =>
  handleCallback(
    { body, headers, query: { command: "callbackUserOfflineCommand" } },
    { tenant: "acme", appId: "a", now },
  ).events[0]!.id;

describe("ids of old-format OpenIM callbacks (no millisecond seq)", () => {
  it("are the same for a re-send with the same operationID, whenever it arrives", () => {
    expect(idAt(1_000, { operationID: "op-7" })).toBe(idAt(9_000, { operationID: "op-7" }));
    expect(idAt(1_000, { operationID: "op-7" })).not.toBe(idAt(1_000, { operationID: "op-8" }));
  });

  it("fall back to the arrival time without an operationID, so distinct callbacks never collide", () => {
    expect(idAt(1_000)).not.toBe(idAt(9_000));
  });
});
