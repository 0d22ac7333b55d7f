import type { Reason, Status } from "@imrelay/core";

/** What a login/logout callback means for the user's presence. */
export interface LoginChange {
  type: "user.online" | "user.offline";
  status: Status;
  reason: Reason;
}

/** The callback is authentic but imrelay does not map it. */
export interface UnmappedCallback {
  unrecognized: string;
}

const ONLINE = { type: "user.online", status: "online" } as const;
const OFFLINE = { type: "user.offline", status: "offline" } as const;

/** The documented `reason` values. */
const REASONS: Readonly<Record<string, LoginChange>> = Object.freeze({
  login: { ...ONLINE, reason: "login" },
  logout: { ...OFFLINE, reason: "logout" },
  // Kicked by the developer's server, or by a login on one device too many.
  replaced: { ...OFFLINE, reason: "kicked" },
});

const STATUSES: Readonly<Record<string, LoginChange>> = Object.freeze({
  online: { ...ONLINE, reason: "other" },
  offline: { ...OFFLINE, reason: "other" },
});

/** Vendor values in `unrecognizedReason` are cut to this, so a hostile body cannot fill the store. */
const ECHO_MAX_LENGTH = 64;

/**
 * Maps a callback's `reason` (and, for a reason imrelay does not know, its
 * `status`), case-insensitively. `reason` decides when the two disagree.
 * Message callbacks share the URL and have no `reason`: they are
 * unrecognized, as is an unknown reason with no usable `status`.
 *
 * @example
 * mapLoginEvent("replaced", "offline");  // { type: "user.offline", status: "offline", reason: "kicked" }
 * mapLoginEvent("migrated", "online");   // { type: "user.online", status: "online", reason: "other" }
 * mapLoginEvent(undefined, undefined, "chat"); // { unrecognized: "eventType chat" }
 */
export function mapLoginEvent(reason: unknown, status: unknown, eventType?: unknown): LoginChange | UnmappedCallback {
  if (reason === undefined || reason === null || reason === "") {
    return {
      unrecognized: typeof eventType === "string" && eventType !== "" ? `eventType ${echo(eventType)}` : "no reason",
    };
  }
  const known = find(REASONS, reason);
  if (known) return known;
  return (
    find(STATUSES, status) ?? { unrecognized: `reason ${typeof reason === "string" ? echo(reason) : "(not a string)"}` }
  );
}

function find(table: Readonly<Record<string, LoginChange>>, value: unknown): LoginChange | undefined {
  if (typeof value !== "string") return undefined;
  const key = value.trim().toLowerCase();
  // Own keys only: a reason of "constructor" must not find Object.prototype's members.
  return Object.hasOwn(table, key) ? { ...table[key]! } : undefined;
}

/** A vendor value as it may appear in `unrecognizedReason`: short, and with no control characters for logs. */
function echo(value: string): string {
  const short = value.length > ECHO_MAX_LENGTH ? `${value.slice(0, ECHO_MAX_LENGTH)}…` : value;
  return short.replace(/\p{Cc}/gu, "?");
}
