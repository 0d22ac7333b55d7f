/**
 * Replaces `${NAME}` and `${NAME:-default}` in every string of a parsed
 * config. Done on values, not on the file's text, so a secret can never break
 * the YAML around it. Returns the paths whose variables are unset.
 */
export function interpolateEnv(
  value: unknown,
  env: Record<string, string | undefined>,
  missing: string[] = [],
  path = "",
): unknown {
  if (typeof value === "string") {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_, name: string, fallback?: string) => {
      const found = env[name];
      if (found !== undefined && found !== "") return found;
      if (fallback !== undefined) return fallback;
      missing.push(`${path || "(root)"}: environment variable ${name} is not set`);
      return "";
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => interpolateEnv(item, env, missing, `${path}[${i}]`));
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key,
        interpolateEnv(item, env, missing, path ? `${path}.${key}` : key),
      ]),
    );
  }
  return value;
}
