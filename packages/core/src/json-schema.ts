import * as z from "zod";
import { DeliveredPayload } from "./event.js";

/** The JSON Schema (draft 2020-12) of the body a tenant endpoint receives. */
export function payloadJsonSchema(): Record<string, unknown> {
  return {
    $id: "https://imrelay.dev/schemas/payload.schema.json",
    title: "imrelay webhook payload",
    ...z.toJSONSchema(DeliveredPayload, { target: "draft-2020-12", io: "output" }),
  };
}
