export * from "./adapter.js";
export * from "./errors.js";
export * from "./event.js";
export * from "./event-id.js";
export * from "./json-depth.js";
export * from "./json-schema.js";
export * from "./platform.js";
export * from "./time.js";
