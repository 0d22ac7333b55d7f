import { readFileSync } from "node:fs";
import { payloadJsonSchema } from "@imrelay/core";
import { describe, expect, it } from "vitest";
import { PROVIDER_NAMES, VENDORS } from "../src/index.js";

const committed = JSON.parse(readFileSync(new URL("../../core/payload.schema.json", import.meta.url), "utf8"));

describe("the vendor registry", () => {
  it("writes the published JSON Schema with its provider names (run `pnpm gen:schema` when this fails)", () => {
    expect(committed).toEqual(JSON.parse(JSON.stringify(payloadJsonSchema(PROVIDER_NAMES))));
    expect(committed.properties.data.properties.provider.enum).toEqual(PROVIDER_NAMES);
  });

  it("lists each vendor once, by a name fit for config keys, paths and metrics labels", () => {
    expect(new Set(PROVIDER_NAMES).size).toBe(VENDORS.length);
    for (const name of PROVIDER_NAMES) expect(name).toMatch(/^[a-z][a-z0-9]*$/);
  });
});
