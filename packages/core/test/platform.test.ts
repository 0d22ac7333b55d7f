import { describe, expect, it } from "vitest";
import { lookupPlatform } from "../src/index.js";

describe("lookupPlatform", () => {
  const table = { aos: "android", 1: "android" } as const;

  it("finds a name or a number in the adapter's table", () => {
    expect(lookupPlatform(table, "aos")).toBe("android");
    expect(lookupPlatform(table, 1)).toBe("android");
  });

  it.each(["constructor", "__proto__", "toString", "hasOwnProperty", "pc"])("gives unknown for %s", (name) => {
    expect(lookupPlatform(table, name)).toBe("unknown");
  });
});
