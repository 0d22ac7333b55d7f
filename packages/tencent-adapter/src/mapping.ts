import type { EventType, Reason, Status } from "@imrelay/core";

/** What one `Info.Action` / `Info.Reason` pair means for the user's presence. */
export interface StateChange {
  type: EventType;
  /** Absent on `user.status_changed`. */
  status?: Status;
  reason: Reason;
}

/** The pair is authentic but imrelay does not know the Action. */
export interface UnknownAction {
  unrecognized: string;
}

/** Tencent documents the values in PascalCase but is not consistent (`TimeOut`, `Timeout`). */
function normalize(value: string | undefined): string {
  return (value ?? "").replace(/[\s_-]/g, "").toLowerCase();
}

const OFFLINE_REASONS: Record<string, Reason> = {
  unregister: "logout",
  linkclose: "disconnect",
  timeout: "timeout",
};

/**
 * Maps a State.StateChange `Info.Action` and `Info.Reason`, case-insensitively.
 * `SetCustomStatus` is a status change under any Action; Logout and Disconnect
 * share their reasons because the oldest docs put `LinkClose` and `Timeout`
 * under Logout; an admin kick (`OpenKickInstance`, `Kicked`, …) is any reason
 * that mentions "kick". Unknown reasons under a known Action keep that
 * Action's status with reason `other`; an unknown Action is not guessed at.
 *
 * @example
 * mapStateChange("Disconnect", "TimeOut"); // { type: "user.offline", status: "offline", reason: "timeout" }
 * mapStateChange("Teleport", "Beam");      // { unrecognized: "action Teleport" }
 */
export function mapStateChange(action: string | undefined, reason: string | undefined): StateChange | UnknownAction {
  const a = normalize(action);
  const r = normalize(reason);
  if (r === "setcustomstatus" || a === "customstatuschange") {
    return { type: "user.status_changed", reason: "custom_status" };
  }
  switch (a) {
    case "login":
      return { type: "user.online", status: "online", reason: r === "register" ? "login" : "other" };
    case "logout":
    case "disconnect":
      return {
        type: "user.offline",
        status: "offline",
        reason: Object.hasOwn(OFFLINE_REASONS, r) ? OFFLINE_REASONS[r]! : r.includes("kick") ? "kicked" : "other",
      };
    default:
      return { unrecognized: `action ${action ?? "(missing)"}` };
  }
}
