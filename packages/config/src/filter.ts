import type * as Sift from "sift";
import sift from "sift";

// sift is CommonJS with no exports map: Node's ESM loader hands over only its module.exports (the
// default import), on which the operations hang as properties.
const {
  $all,
  $and,
  $elemMatch,
  $eq,
  $exists,
  $gt,
  $gte,
  $in,
  $lt,
  $lte,
  $mod,
  $ne,
  $nin,
  $nor,
  $not,
  $options,
  $or,
  $regex,
  $size,
  $type,
  createQueryTester,
} = sift as unknown as typeof Sift;

/** An endpoint's `filter`: a MongoDB-style query over the delivered event. */
export type EventFilter = Record<string, unknown>;

/** Tells whether an event passes an endpoint's filter. */
export type EventMatcher = (event: object) => boolean;

/**
 * The query operators a filter may use: sift's, less `$where`, whose string
 * form is JavaScript compiled with `new Function` — code in a config file is
 * not a filter.
 */
const OPERATIONS = {
  $eq,
  $ne,
  $gt,
  $gte,
  $lt,
  $lte,
  $in,
  $nin,
  $all,
  $size,
  $elemMatch,
  $exists,
  $type,
  $regex,
  $options,
  $mod,
  $not,
  $and,
  $or,
  $nor,
};

export const FILTER_OPERATORS = Object.keys(OPERATIONS);

/** The `$type` names that mean something in JSON (sift throws on others, and only when it evaluates). */
const TYPE_NAMES = ["string", "number", "bool", "array", "null"];

const isList = (value: unknown) => Array.isArray(value);
/** What an operator's operand must be, where sift would take a wrong one silently or throw only at run time. */
const OPERANDS: Record<string, [check: (value: unknown) => boolean, want: string]> = {
  $in: [isList, "a list"],
  $nin: [isList, "a list"],
  $all: [isList, "a list"],
  $and: [(v) => isList(v) && v.length > 0, "a non-empty list of queries"],
  $or: [(v) => isList(v) && v.length > 0, "a non-empty list of queries"],
  $nor: [(v) => isList(v) && v.length > 0, "a non-empty list of queries"],
  $size: [(v) => Number.isInteger(v), "a whole number"],
  $exists: [(v) => typeof v === "boolean", "true or false"],
  $regex: [(v) => typeof v === "string", "a regular expression as a string"],
  $options: [(v) => typeof v === "string", "regular expression flags, e.g. i"],
  $type: [(v) => typeof v === "string" && TYPE_NAMES.includes(v), `one of ${TYPE_NAMES.join(", ")}`],
  $mod: [
    (v) => isList(v) && v.length === 2 && v.every((n) => Number.isInteger(n)) && v[0] !== 0,
    "[divisor, remainder]",
  ],
};

/** One problem with a filter: where in it (keys and indexes below `filter`) and what. */
export interface FilterProblem {
  path: (string | number)[];
  message: string;
}

/**
 * Every operator in the query that imrelay does not know or whose operand is
 * wrong, with its path, so a config error can point at it.
 *
 * @example
 * filterProblems({ platform: { $inn: ["ios"] } });
 * // [{ path: ["platform", "$inn"], message: 'unknown operator "$inn" (known: $eq, $ne, …)' }]
 */
export function filterProblems(query: unknown, path: (string | number)[] = []): FilterProblem[] {
  if (Array.isArray(query)) return query.flatMap((item, i) => filterProblems(item, [...path, i]));
  if (query === null || typeof query !== "object") return [];
  const problems: FilterProblem[] = [];
  for (const [key, value] of Object.entries(query)) {
    const at = [...path, key];
    if (key.startsWith("$")) {
      if (!Object.hasOwn(OPERATIONS, key)) {
        problems.push({ path: at, message: `unknown operator "${key}" (known: ${FILTER_OPERATORS.join(", ")})` });
        continue;
      }
      const operand = OPERANDS[key];
      if (operand && !operand[0](value)) {
        problems.push({ path: at, message: `${key} takes ${operand[1]}` });
        continue;
      }
      // The operand of $eq, $ne, $in and $nin is a value to compare, not a query: its keys are data.
      if (key === "$eq" || key === "$ne" || key === "$in" || key === "$nin") continue;
    }
    problems.push(...filterProblems(value, at));
  }
  return problems;
}

/**
 * Compiles a filter into a matcher, once. Throws on a filter `filterProblems`
 * or sift refuses (an invalid regular expression, a malformed query).
 *
 * @example
 * const matches = compileFilter({ platform: { $in: ["ios", "android"] }, provider: "tencent" });
 * matches(event); // true or false
 */
export function compileFilter(filter: EventFilter): EventMatcher {
  const [problem] = filterProblems(filter);
  if (problem) throw new Error(problem.path.length ? `${problem.path.join(".")}: ${problem.message}` : problem.message);
  const test = createQueryTester<object, object>(filter, { operations: OPERATIONS });
  return (event) => {
    try {
      return test(event);
    } catch {
      // Validation leaves nothing that throws on a JSON event; were something to, the event is
      // delivered rather than dropped unseen (and a throw here would stall the whole dispatch).
      return true;
    }
  };
}

const compiled = new WeakMap<EventFilter, EventMatcher>();

/**
 * The matcher of a validated config's filter, compiled the first time it is
 * asked for and then reused: once per loaded config, not once per event.
 *
 * @example
 * if (endpoint.filter && !filterMatcher(endpoint.filter)(event)) continue;
 */
export function filterMatcher(filter: EventFilter): EventMatcher {
  let matcher = compiled.get(filter);
  if (!matcher) {
    matcher = compileFilter(filter);
    compiled.set(filter, matcher);
  }
  return matcher;
}
