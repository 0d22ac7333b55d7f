import type { EventType, Reason, Status } from "@imrelay/core";

/** What a login or logout copy means for the user's presence. */
export interface CopyMapping {
  type: EventType;
  status: Status;
  reason: Reason;
}

/** The copy is authentic but is not one imrelay maps. */
export interface UnmappedCopy {
  unrecognized: string;
}

/** The copy fields that decide the mapping, each as text (see `fieldText`). */
export interface CopyKind {
  eventType: string | undefined;
  code: string | undefined;
  logOutReason: string | undefined;
}

/** 2 connection lost; 3 kicked by the user's own other device; 4 kicked by the multi-device policy. */
const LOGOUT_REASONS: Record<string, Reason> = { "2": "disconnect", "3": "kicked", "4": "kicked" };

/**
 * Maps a copy's `eventType` (with `code` on login, `logOutReason` on logout).
 * `2` is a login, `3` a logout; every other `eventType` is another kind of
 * copy sharing the URL. A login whose `code` is not 200 failed and changes no
 * presence (an absent `code` is taken as a success). On logout, `code` is
 * ignored and an absent or unknown `logOutReason` (1 is an active logout) is
 * `logout`.
 *
 * @example
 * mapCopy({ eventType: "3", code: "200", logOutReason: "2" }); // { type: "user.offline", status: "offline", reason: "disconnect" }
 * mapCopy({ eventType: "1", code: undefined, logOutReason: undefined }); // { unrecognized: "eventType 1" }
 */
export function mapCopy({ eventType, code, logOutReason }: CopyKind): CopyMapping | UnmappedCopy {
  switch (eventType) {
    case "2":
      if (code !== undefined && code !== "200") return { unrecognized: `failed login (code ${shown(code)})` };
      return { type: "user.online", status: "online", reason: "login" };
    case "3":
      return {
        type: "user.offline",
        status: "offline",
        reason:
          logOutReason !== undefined && Object.hasOwn(LOGOUT_REASONS, logOutReason)
            ? LOGOUT_REASONS[logOutReason]!
            : "logout",
      };
    default:
      return { unrecognized: `eventType ${eventType === undefined ? "(missing)" : shown(eventType)}` };
  }
}

/** Vendor text in a reason is for a person to read; a long value is cut so it cannot bloat logs and lists. */
function shown(value: string): string {
  return value.length > 32 ? `${value.slice(0, 32)}…` : value;
}
