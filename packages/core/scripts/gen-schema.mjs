// Writes payload.schema.json from the zod schema; test/schema.test.ts fails when it is stale.
import { writeFileSync } from "node:fs";
import { payloadJsonSchema } from "../dist/json-schema.js";

const file = new URL("../payload.schema.json", import.meta.url);
writeFileSync(file, `${JSON.stringify(payloadJsonSchema(), null, 2)}\n`);
console.log(`wrote ${file.pathname}`);
