// Writes @imrelay/core's payload.schema.json with the registry's provider names;
// test/payload-schema.test.ts fails when it is stale.
import { writeFileSync } from "node:fs";
import { payloadJsonSchema } from "@imrelay/core";
import { PROVIDER_NAMES } from "../dist/index.js";

const file = new URL("../../core/payload.schema.json", import.meta.url);
writeFileSync(file, `${JSON.stringify(payloadJsonSchema(PROVIDER_NAMES), null, 2)}\n`);
console.log(`wrote ${file.pathname}`);
