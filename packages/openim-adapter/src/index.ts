export * from "./answer.js";
export * from "./basic-auth.js";
export * from "./command.js";
export * from "./errors.js";
export * from "./handle-callback.js";
export * from "./parse-body.js";
export * from "./testing.js";
