// Node-stream helpers for framework wrappers (`@imrelay/core/node`). Kept off the
// main entry so that using the event model needs no Node type definitions.
export * from "./content-encoding.js";
export * from "./raw-body.js";
export * from "./webhook-handler.js";
