import { formatPath } from "./path.js";

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Unicode private use area: printable for YAML, and never in a real config (checked anyway). */
const PRIVATE_USE_FIRST = 0xe000;
const PRIVATE_USE_LAST = 0xf8ff;

/** The `${…}` references of one file, swapped out for placeholders of the same length. */
export interface ProtectedText {
  text: string;
  /** Placeholder marker → the reference as written. */
  references: Map<string, string>;
  /** The character that pads a placeholder to its reference's length. */
  filler: string;
}

/**
 * `${NAME}` must work anywhere, including inside a YAML flow map
 * (`{ password: ${PW} }`), where `${` is not valid YAML. So references are
 * swapped for plain placeholders before parsing and resolved in the parsed
 * values afterwards: an env value is never parsed as YAML, so a secret can
 * never break or inject structure.
 *
 * A placeholder is a marker character then fillers, exactly as long as the
 * reference, so a YAML error's line, column and caret still point at the
 * user's text once `restoreText` has put the reference back.
 */
export function protectReferences(text: string): ProtectedText {
  const used = new Set<string>();
  for (const char of text) {
    const code = char.charCodeAt(0);
    if (code >= PRIVATE_USE_FIRST && code <= PRIVATE_USE_LAST) used.add(char);
  }
  let next = PRIVATE_USE_FIRST;
  const take = () => {
    while (next <= PRIVATE_USE_LAST && used.has(String.fromCharCode(next))) next++;
    return next <= PRIVATE_USE_LAST ? String.fromCharCode(next++) : undefined;
  };
  const filler = take() ?? "";
  const references = new Map<string, string>();
  const markers = new Map<string, string>();
  const out = text.replace(REFERENCE, (match) => {
    let marker = markers.get(match);
    if (!marker) {
      // Out of markers (thousands of different references): leave the rest as written.
      marker = filler && take();
      if (!marker) return match;
      markers.set(match, marker);
      references.set(marker, match);
    }
    return marker + filler.repeat(match.length - 1);
  });
  return { text: out, references, filler };
}

/**
 * Puts the references back into a text: a parsed string, or an error message
 * quoting the file (a placeholder cut short there gives the same cut of the reference).
 */
export function restoreText(
  text: string,
  { references, filler }: Pick<ProtectedText, "references" | "filler">,
): string {
  if (references.size === 0) return text;
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const reference = references.get(text[i]!);
    if (reference === undefined) {
      out += text[i];
      continue;
    }
    let length = 1;
    while (length < reference.length && text[i + length] === filler) length++;
    out += reference.slice(0, length);
    i += length - 1;
  }
  return out;
}

/** Puts the `${…}` references back into parsed values and keys, so `interpolateEnv` can resolve them. */
export function restoreReferences(value: unknown, references: Pick<ProtectedText, "references" | "filler">): unknown {
  if (references.references.size === 0) return value;
  if (typeof value === "string") return restoreText(value, references);
  if (Array.isArray(value)) return value.map((item) => restoreReferences(item, references));
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [restoreText(k, references), restoreReferences(v, references)]),
    );
  }
  return value;
}

/** The result of resolving `${…}` in a parsed config. */
export interface Interpolation {
  value: unknown;
  /** One entry per reference with neither a value nor a default, in file order. */
  unset: Array<{ path: string; name: string }>;
  /** Each string that held a reference: its path → the string as written (references, no values). */
  written: Map<string, string>;
}

/**
 * Replaces `${NAME}` and `${NAME:-default}` in every string of a parsed
 * config. An empty variable counts as unset. Never throws: unset variables
 * are listed, so they can be reported with every other problem of the file.
 */
export function interpolateEnv(value: unknown, env: Record<string, string | undefined>): Interpolation {
  const unset: Interpolation["unset"] = [];
  const written: Interpolation["written"] = new Map();
  const walk = (item: unknown, path: Array<string | number>): unknown => {
    if (typeof item === "string") {
      const at = formatPath(path);
      let referenced = false;
      const out = item.replace(REFERENCE, (_, name: string, fallback?: string) => {
        referenced = true;
        const found = env[name];
        if (found !== undefined && found !== "") return found;
        if (fallback !== undefined) return fallback;
        unset.push({ path: at, name });
        return "";
      });
      if (referenced) written.set(at, item);
      return out;
    }
    if (Array.isArray(item)) return item.map((entry, i) => walk(entry, [...path, i]));
    if (item && typeof item === "object") {
      return Object.fromEntries(Object.entries(item).map(([key, entry]) => [key, walk(entry, [...path, key])]));
    }
    return item;
  };
  return { value: walk(value, []), unset, written };
}
