export * from "./duration.js";
export * from "./interpolate.js";
export * from "./load.js";
export * from "./schema.js";
export * from "./tenant.js";
