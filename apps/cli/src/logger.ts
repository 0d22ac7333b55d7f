import { GATEWAY_REDACT_PATHS } from "@imrelay/gateway";
import pino from "pino";

/** Paths pino blanks in every line: the gateway's own list, so the CLI never logs less safely than the server. */
export const REDACT_PATHS = GATEWAY_REDACT_PATHS;

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
      ? {
          transport: {
            target: "pino-pretty",
            options: { colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname,service" },
          },
        }
      : {}),
  });
}
