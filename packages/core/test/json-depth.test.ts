import { describe, expect, it } from "vitest";
import { MAX_JSON_DEPTH, nestedDeeperThan } from "../src/index.js";

const nest = (depth: number) => JSON.parse(`${"[".repeat(depth)}1${"]".repeat(depth)}`);

describe("nestedDeeperThan", () => {
  it("allows vendor-shaped bodies and refuses deeper nesting", () => {
    expect(nestedDeeperThan({ Info: { Action: "Login" }, KickedDevice: [{ Platform: "iOS" }] })).toBe(false);
    expect(nestedDeeperThan(nest(MAX_JSON_DEPTH))).toBe(false);
    expect(nestedDeeperThan(nest(MAX_JSON_DEPTH + 1))).toBe(true);
    expect(nestedDeeperThan("text")).toBe(false);
  });

  it("checks a 30,000-level body without overflowing the stack", () => {
    expect(nestedDeeperThan({ x: nest(30_000) })).toBe(true);
  });
});
