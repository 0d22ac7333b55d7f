const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * `${NAME}` must work anywhere, including inside a YAML flow map
 * (`{ password: ${PW} }`), where `${` is not valid YAML. So references are
 * swapped for plain placeholders before parsing and resolved in the parsed
 * values afterwards: an env value is never parsed as YAML, so a secret can
 * never break or inject structure.
 */
export function protectReferences(text: string): { text: string; references: Map<string, string> } {
  const references = new Map<string, string>();
  let n = 0;
  const out = text.replace(REFERENCE, (match) => {
    const placeholder = `__imrelay_env_${n++}__`;
    references.set(placeholder, match);
    return placeholder;
  });
  return { text: out, references };
}

/** Puts the `${…}` references back into parsed values, so `interpolateEnv` can resolve them. */
export function restoreReferences(value: unknown, references: Map<string, string>): unknown {
  if (references.size === 0) return value;
  if (typeof value === "string") return value.replace(/__imrelay_env_\d+__/g, (p) => references.get(p) ?? p);
  if (Array.isArray(value)) return value.map((item) => restoreReferences(item, references));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, restoreReferences(v, references)]));
  }
  return value;
}

/**
 * Replaces `${NAME}` and `${NAME:-default}` in every string of a parsed
 * config. Pushes `path: environment variable NAME is not set` to `missing`
 * for each reference that has neither a value nor a default.
 */
export function interpolateEnv(
  value: unknown,
  env: Record<string, string | undefined>,
  missing: string[] = [],
  path = "",
): unknown {
  if (typeof value === "string") {
    return value.replace(REFERENCE, (_, name: string, fallback?: string) => {
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
