import type * as z from "zod";
import { formatPath } from "./path.js";

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i;

/** `"true"`/`"false"` and decimal numbers, as the environment spells them; undefined for anything else. */
export function readEnvScalar(text: string, expected: "boolean" | "number"): boolean | number | undefined {
  const trimmed = text.trim();
  if (expected === "boolean") return trimmed === "true" ? true : trimmed === "false" ? false : undefined;
  return NUMBER.test(trimmed) ? Number(trimmed) : undefined;
}

/** The boolean or number a zod issue asked for, when it got a string built from `${…}`. */
function envTypeIssue(
  issue: z.core.$ZodIssue,
  written: ReadonlyMap<string, string>,
): { expected: "boolean" | "number"; text: string } | undefined {
  if (issue.code !== "invalid_type") return undefined;
  const expected = issue.expected === "boolean" ? "boolean" : issue.expected === "number" ? "number" : undefined;
  const text = written.get(formatPath(issue.path));
  return expected && text !== undefined ? { expected, text } : undefined;
}

/**
 * Environment variables are text, so `${ALLOW_PRIVATE}` gives `"true"` where
 * the schema wants `true`. Only strings that came from a reference are
 * converted, and only where validation asked for a boolean or number: a
 * quoted `"8080"` written in the file stays an error, and a string field
 * (a token of digits, an app id) is never turned into a number. Converts in
 * place; returns whether anything changed, so the caller validates again.
 */
export function typeEnvValues(
  config: Record<string, unknown>,
  issues: readonly z.core.$ZodIssue[],
  written: ReadonlyMap<string, string>,
): boolean {
  let changed = false;
  for (const issue of issues) {
    const asked = envTypeIssue(issue, written);
    if (!asked) continue;
    const parent = issue.path.slice(0, -1).reduce<unknown>(ownChild, config);
    const key = issue.path.at(-1);
    if (!parent || typeof parent !== "object" || key === undefined || !Object.hasOwn(parent, key)) continue;
    const current = (parent as Record<PropertyKey, unknown>)[key];
    if (typeof current !== "string") continue;
    const value = readEnvScalar(current, asked.expected);
    if (value === undefined) continue;
    Object.defineProperty(parent, key, { value, enumerable: true, writable: true, configurable: true });
    changed = true;
  }
  return changed;
}

/** What to say when a `${…}` value is still not the boolean or number asked for; undefined for other issues. */
export function envTypeMessage(issue: z.core.$ZodIssue, written: ReadonlyMap<string, string>): string | undefined {
  const asked = envTypeIssue(issue, written);
  if (!asked) return undefined;
  // The reference as written, never the variable's value: that may be a secret put in the wrong place.
  return asked.expected === "boolean" ? `${asked.text} must be "true" or "false"` : `${asked.text} must be a number`;
}

function ownChild(node: unknown, key: PropertyKey): unknown {
  return node && typeof node === "object" && Object.hasOwn(node, key)
    ? (node as Record<PropertyKey, unknown>)[key]
    : undefined;
}
