export * from "./answer.js";
export * from "./errors.js";
export * from "./handle-callback.js";
export * from "./mapping.js";
export * from "./parse.js";
export * from "./sign.js";
export * from "./verify.js";
