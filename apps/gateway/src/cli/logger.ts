import pino from "pino";

/** Paths pino blanks in every line: credentials can ride in on headers, queries and config. */
export const REDACT_PATHS = [
  "token",
  "secret",
  "password",
  "authorization",
  "*.token",
  "*.secret",
  "*.password",
  "*.authorization",
  "*.Authorization",
  "*.Sign",
  "*.callbackToken",
  "req.headers.authorization",
  "headers.authorization",
  "query.Sign",
];

/**
 * JSON lines in production (and whenever stdout is not a terminal); pretty
 * lines for a person at a terminal. `LOG_LEVEL` sets the level.
 */
export function createLogger(options: { level?: string; pretty?: boolean } = {}) {
  const pretty = options.pretty ?? (process.stdout.isTTY === true && process.env.NODE_ENV !== "production");
  return pino({
    level: options.level ?? process.env.LOG_LEVEL ?? "info",
    base: { service: "imrelay" },
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    ...(pretty
      ? { transport: { target: "pino-pretty", options: { colorize: true, translateTime: "SYS:HH:MM:ss.l" } } }
      : {}),
  });
}
