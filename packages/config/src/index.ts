export * from "./duration.js";
export * from "./env-values.js";
export * from "./filter.js";
export * from "./interpolate.js";
export * from "./load.js";
export * from "./path.js";
export * from "./schema.js";
export * from "./tenant.js";
