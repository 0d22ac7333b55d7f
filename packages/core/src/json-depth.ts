/** Deeper than any vendor body; deep enough that recursion over it (event ids) stays far from the stack limit. */
export const MAX_JSON_DEPTH = 32;

/**
 * True when parsed JSON nests objects or arrays deeper than `max`. Iterative,
 * so a hostile body cannot overflow the stack while being checked.
 *
 * @example
 * nestedDeeperThan(JSON.parse('{"a":[[1]]}'), 2); // true
 */
export function nestedDeeperThan(value: unknown, max = MAX_JSON_DEPTH): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (item === null || typeof item !== "object") continue;
    if (depth >= max) return true;
    for (const child of Array.isArray(item) ? item : Object.values(item)) {
      if (child !== null && typeof child === "object") stack.push([child, depth + 1]);
    }
  }
  return false;
}
