import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ImrelayError } from "@imrelay/core";
import { parse as parseYaml } from "yaml";
import type * as z from "zod";
import { interpolateEnv, protectReferences, restoreReferences } from "./interpolate.js";
import { ImrelayConfig } from "./schema.js";

export type ConfigErrorCode = "CONFIG_NOT_FOUND" | "CONFIG_UNREADABLE" | "CONFIG_INVALID";

/** A config that cannot be used; `problems` has one `path: what` line per bad field. */
export class ConfigError extends ImrelayError<ConfigErrorCode> {
  readonly problems: string[];
  constructor(code: ConfigErrorCode, message: string, problems: string[] = []) {
    super(code, problems.length ? `${message}\n${problems.map((p) => `  - ${p}`).join("\n")}` : message);
    this.problems = problems;
  }
}

export const DEFAULT_CONFIG_PATH = "./imrelay.config.yaml";

/** `tenants.acme.endpoints[0].url` from a zod issue path. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out || "(root)";
}

/** Validates an already-parsed config object (after interpolation). */
export function parseConfig(input: unknown, source = "config", env: Record<string, string | undefined> = process.env) {
  const missing: string[] = [];
  const interpolated = interpolateEnv(input, env, missing) as Record<string, unknown> | null;
  if (missing.length) throw new ConfigError("CONFIG_INVALID", `${source} is not valid:`, missing);
  if (!interpolated || typeof interpolated !== "object" || Array.isArray(interpolated)) {
    throw new ConfigError("CONFIG_INVALID", `${source} is not valid:`, ["(root): expected a mapping"]);
  }
  const admin = (interpolated.admin ?? {}) as { token?: unknown };
  if ((admin.token === undefined || admin.token === "") && env.IMRELAY_ADMIN_TOKEN) {
    // Validated below like a token in the file: a short one stops start-up.
    interpolated.admin = { ...admin, token: env.IMRELAY_ADMIN_TOKEN };
  }
  if (env.REDIS_URL) {
    interpolated.redis = { ...(interpolated.redis as object | undefined), url: env.REDIS_URL };
  }
  const result = ImrelayConfig.safeParse(interpolated);
  if (!result.success) {
    throw new ConfigError(
      "CONFIG_INVALID",
      `${source} is not valid:`,
      result.error.issues.map((issue: z.core.$ZodIssue) => `${formatPath(issue.path)}: ${issue.message}`),
    );
  }
  const config = result.data;
  return config;
}

/**
 * Reads the config file (YAML or JSON) at `path`, or `IMRELAY_CONFIG`, or
 * `./imrelay.config.yaml`. Returns undefined when no file exists and none was
 * asked for by name, so the CLI can start its demo tenant.
 */
export function loadConfig(options: { path?: string; env?: Record<string, string | undefined> } = {}) {
  const env = options.env ?? process.env;
  const named = options.path ?? env.IMRELAY_CONFIG;
  const file = resolve(named ?? DEFAULT_CONFIG_PATH);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && !named) return undefined;
    if (code === "ENOENT") throw new ConfigError("CONFIG_NOT_FOUND", `config file ${file} does not exist`);
    throw new ConfigError("CONFIG_UNREADABLE", `config file ${file} cannot be read (${code ?? "error"})`);
  }
  let parsed: unknown;
  try {
    // YAML is a superset of JSON, so one parser reads both.
    const { text: safe, references } = protectReferences(text);
    parsed = restoreReferences(parseYaml(safe), references);
  } catch (err) {
    throw new ConfigError("CONFIG_INVALID", `${file} is not valid YAML or JSON: ${(err as Error).message}`);
  }
  return { path: file, config: parseConfig(parsed, file, env) };
}
