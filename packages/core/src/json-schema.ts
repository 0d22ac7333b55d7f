import * as z from "zod";
import { DeliveredPayload, eventSchemas } from "./event.js";

/**
 * The JSON Schema (draft 2020-12) of the body a tenant endpoint receives.
 * With the registry's provider names, `provider` is an enum of them (that is
 * how `payload.schema.json` is written); without, any provider name.
 *
 * @example
 * payloadJsonSchema(["tencent", "openim", "netease", "agora"]);
 */
export function payloadJsonSchema(providers?: readonly [string, ...string[]]): Record<string, unknown> {
  const schema = providers ? eventSchemas(z.enum(providers)).DeliveredPayload : DeliveredPayload;
  return {
    $id: "https://imrelay.dev/schemas/payload.schema.json",
    title: "imrelay webhook payload",
    ...z.toJSONSchema(schema, { target: "draft-2020-12", io: "output" }),
  };
}
