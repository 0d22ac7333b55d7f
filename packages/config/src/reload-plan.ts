import { createHash } from "node:crypto";
import { formatPath } from "./path.js";
import type { ImrelayConfig } from "./schema.js";

/**
 * The sections a reload puts in effect. Everything else is read once when a
 * part starts (Redis connection and prefix, listening address and HTTP limits,
 * worker concurrency and locks, retry schedule, DNS cache, presence timers,
 * admin token, shutdown timeout): a changed value there waits for a restart.
 */
export const RELOADABLE_SECTIONS = ["tenants"] as const;

/** JSON with every object's keys sorted, so equal configs give equal text whatever the file's key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

/**
 * Names a validated config: the first 16 hex digits of the SHA-256 of its
 * canonical JSON. Secrets are part of what is hashed (a rotated secret is a
 * new config) but cannot be read back from the hash.
 *
 * @example
 * logger.info({ config_hash: configHash(config) }, "config loaded");
 */
export function configHash(config: ImrelayConfig): string {
  return createHash("sha256").update(canonicalJson(config)).digest("hex").slice(0, 16);
}

/** What a reload changes among tenants and endpoints, by name (`tenant beta`, `endpoint acme/audit`). */
export interface ConfigChanges {
  added: string[];
  removed: string[];
  changed: string[];
}

export interface ReloadPlan {
  /** The config to put in effect: the new file's reloadable sections, the running values of everything else. */
  config: ImrelayConfig;
  /** Fields the new file changes that need a restart (`gateway.port`), which keep their running values. */
  notApplied: string[];
  changes: ConfigChanges;
  /** True when the new file changes nothing that a reload applies. */
  unchanged: boolean;
}

/**
 * How a new, valid config file is applied to a running process: the
 * reloadable sections are taken, every other changed field is named and kept.
 *
 * @example
 * const plan = planReload(running, loadConfig({ path })!.config);
 * if (plan.notApplied.length) logger.warn({ notApplied: plan.notApplied }, "…needs a restart");
 * source.set(plan.config);
 */
export function planReload(running: ImrelayConfig, next: ImrelayConfig): ReloadPlan {
  const config = { ...running } as Record<string, unknown>;
  for (const section of RELOADABLE_SECTIONS) config[section] = next[section];
  const notApplied = differingFields(running, next, []).filter(
    (field) => !RELOADABLE_SECTIONS.some((section) => field === section || field.startsWith(`${section}.`)),
  );
  const changes = tenantChanges(running.tenants, next.tenants);
  const unchanged = canonicalJson(running.tenants) === canonicalJson(next.tenants);
  return { config: config as ImrelayConfig, notApplied, changes, unchanged };
}

const isMapping = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/** The paths of the leaves (values, or whole lists) that differ between two configs. */
function differingFields(a: unknown, b: unknown, path: PropertyKey[]): string[] {
  if (isMapping(a) && isMapping(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((key) => differingFields(a[key], b[key], [...path, key]));
  }
  return canonicalJson(a) === canonicalJson(b) ? [] : [formatPath(path)];
}

function tenantChanges(before: ImrelayConfig["tenants"], after: ImrelayConfig["tenants"]): ConfigChanges {
  const changes: ConfigChanges = { added: [], removed: [], changed: [] };
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  for (const name of names) {
    const old = Object.hasOwn(before, name) ? before[name] : undefined;
    const now = Object.hasOwn(after, name) ? after[name] : undefined;
    if (!old || !now) {
      (old ? changes.removed : changes.added).push(`tenant ${name}`);
      continue;
    }
    const { endpoints: oldEndpoints, ...oldRest } = old;
    const { endpoints: newEndpoints, ...newRest } = now;
    if (canonicalJson(oldRest) !== canonicalJson(newRest)) changes.changed.push(`tenant ${name}`);
    const ids = [...new Set([...oldEndpoints, ...newEndpoints].map((endpoint) => endpoint.id))];
    for (const id of ids) {
      const was = oldEndpoints.find((endpoint) => endpoint.id === id);
      const is = newEndpoints.find((endpoint) => endpoint.id === id);
      const label = `endpoint ${name}/${id}`;
      if (!was) changes.added.push(label);
      else if (!is) changes.removed.push(label);
      else if (canonicalJson(was) !== canonicalJson(is)) changes.changed.push(label);
    }
  }
  return changes;
}
