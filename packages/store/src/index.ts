export * from "./delivery-job.js";
export * from "./delivery-queue.js";
export * from "./endpoint-state.js";
export * from "./ingest.js";
export * from "./keys.js";
export * from "./presence.js";
export * from "./store-failure.js";
export * from "./stream-entry.js";
