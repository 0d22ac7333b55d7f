// Writes the admin API's OpenAPI document to docs/openapi.json from the built gateway (run by
// `pnpm build`); test/openapi.test.ts fails when the committed file is stale.
import { writeFileSync } from "node:fs";
import { adminOpenApiDocument } from "../dist/admin/openapi.js";

const file = new URL("../../../docs/openapi.json", import.meta.url);
writeFileSync(file, `${JSON.stringify(adminOpenApiDocument(), null, 2)}\n`);
