import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ImrelayError } from "@imrelay/core";
import { parse as parseYaml } from "yaml";
import { envTypeMessage, typeEnvValues } from "./env-values.js";
import { interpolateEnv, protectReferences, restoreReferences, restoreText } from "./interpolate.js";
import { formatPath, isWithin } from "./path.js";
import { type ConfigVendor, configSchema, ImrelayConfig } from "./schema.js";

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

/**
 * Validates an already-parsed config object: resolves `${…}`, applies the
 * environment's overrides, and lists every problem at once (unset variables
 * and the schema's errors together) in one ConfigError.
 */
export function parseConfig(
  input: unknown,
  source = "config",
  env: Record<string, string | undefined> = process.env,
  options: { vendors?: readonly ConfigVendor[] } = {},
): ImrelayConfig {
  const schema = options.vendors ? configSchema(options.vendors).ImrelayConfig : ImrelayConfig;
  const { value, unset, written } = interpolateEnv(input, env);
  const unsetLine = ({ path, name }: { path: string; name: string }) =>
    `${path}: environment variable ${name} is not set`;
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    throw new ConfigError("CONFIG_INVALID", `${source} is not valid:`, [
      ...unset.map(unsetLine),
      "(root): expected a mapping",
    ]);
  }
  const config = value as Record<string, unknown>;
  const overridden = applyEnvOverrides(config, env);
  // A variable under a field the environment replaces is never read, so it need not be set.
  const missing = unset.filter(({ path }) => !overridden.some((field) => isWithin(path, field)));
  for (const field of overridden) written.delete(field);

  let result = schema.safeParse(config);
  for (let round = 0; !result.success && round < 3 && typeEnvValues(config, result.error.issues, written); round++) {
    result = schema.safeParse(config);
  }
  if (result.success && missing.length === 0) return result.data;

  const problems = missing.map(unsetLine);
  for (const issue of result.error?.issues ?? []) {
    const path = formatPath(issue.path);
    // An unset variable already explains what is wrong with its field.
    if (missing.some((m) => isWithin(path, m.path))) continue;
    problems.push(`${path}: ${envTypeMessage(issue, written) ?? issue.message}`);
  }
  throw new ConfigError("CONFIG_INVALID", `${source} is not valid:`, problems);
}

/**
 * `IMRELAY_ADMIN_TOKEN` fills an empty `admin.token`; `REDIS_CLUSTER_NODES`
 * (comma-separated) replaces `redis.cluster.nodes`, else `REDIS_URL` replaces
 * `redis.url`: the environment names the one Redis to use, node or cluster,
 * whatever the file says. Returns the fields replaced.
 */
function applyEnvOverrides(config: Record<string, unknown>, env: Record<string, string | undefined>): string[] {
  const overridden: string[] = [];
  const admin = (config.admin ?? {}) as { token?: unknown };
  if ((admin.token === undefined || admin.token === "") && env.IMRELAY_ADMIN_TOKEN) {
    // Validated like a token in the file: a short one stops start-up.
    config.admin = { ...admin, token: env.IMRELAY_ADMIN_TOKEN };
    overridden.push("admin.token");
  }
  const redis = { ...(config.redis as object | undefined) } as Record<string, unknown>;
  const clusterNodes = env.REDIS_CLUSTER_NODES?.split(",")
    .map((node) => node.trim())
    .filter(Boolean);
  if (clusterNodes?.length) {
    delete redis.url;
    config.redis = { ...redis, cluster: { nodes: clusterNodes } };
    overridden.push("redis.cluster", "redis.url");
  } else if (env.REDIS_URL) {
    delete redis.cluster;
    config.redis = { ...redis, url: env.REDIS_URL };
    overridden.push("redis.url", "redis.cluster");
  }
  return overridden;
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
  const protectedText = protectReferences(text);
  let parsed: unknown;
  try {
    // YAML is a superset of JSON, so one parser reads both.
    parsed = restoreReferences(parseYaml(protectedText.text), protectedText);
  } catch (err) {
    // The message quotes the file: show it as the user wrote it.
    const message = restoreText((err as Error).message, protectedText);
    throw new ConfigError("CONFIG_INVALID", `${file} is not valid YAML or JSON: ${message}`);
  }
  return { path: file, config: parseConfig(parsed, file, env) };
}
