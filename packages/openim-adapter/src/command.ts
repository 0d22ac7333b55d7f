import { firstValue, type Reason, type Status } from "@imrelay/core";

/** What an OpenIM command maps to. */
export interface OpenImCommandMapping {
  type: "user.online" | "user.offline";
  status: Status;
  reason: Reason;
  /** The v3.8 name of the command, used for event ids so old and new names of one callback agree. */
  command: string;
}

const ONLINE = { type: "user.online", status: "online", reason: "login" } as const;
const OFFLINE = { type: "user.offline", status: "offline", reason: "disconnect" } as const;
const KICKED = { type: "user.offline", status: "offline", reason: "kicked" } as const;

/**
 * The six command names OpenIM has used for presence webhooks: v3.7+ names
 * (`callbackAfterUser…`) and the older ones. v3.8 never fires kick-off (a
 * kick arrives as offline), but older servers do.
 */
export const OPENIM_COMMANDS: Readonly<Record<string, OpenImCommandMapping>> = Object.freeze({
  callbackAfterUserOnlineCommand: { ...ONLINE, command: "callbackAfterUserOnlineCommand" },
  callbackUserOnlineCommand: { ...ONLINE, command: "callbackAfterUserOnlineCommand" },
  callbackAfterUserOfflineCommand: { ...OFFLINE, command: "callbackAfterUserOfflineCommand" },
  callbackUserOfflineCommand: { ...OFFLINE, command: "callbackAfterUserOfflineCommand" },
  callbackAfterUserKickOffCommand: { ...KICKED, command: "callbackAfterUserKickOffCommand" },
  callbackUserKickOffCommand: { ...KICKED, command: "callbackAfterUserKickOffCommand" },
});

const BY_LOWER_NAME = new Map(Object.entries(OPENIM_COMMANDS).map(([name, mapping]) => [name.toLowerCase(), mapping]));

/** Looks a command name up, case-insensitively; `undefined` when imrelay does not map it. */
export function commandMapping(name: string | undefined): OpenImCommandMapping | undefined {
  return name === undefined ? undefined : BY_LOWER_NAME.get(name.toLowerCase());
}

/** Where the command was found. */
export type CommandSource = "path" | "query" | "body";

export interface ResolvedCommand {
  name: string | undefined;
  source: CommandSource | undefined;
}

const COMMAND_SEGMENT = /^callback\w*command$/i;

/**
 * Finds the command: the path's last segment (v3.8 POSTs to `{url}/{command}`
 * and routes on it, so it wins over the body), else `?command=` (older
 * servers), else the body's `callbackCommand`.
 *
 * @example
 * resolveCommand({ path: "/openim//callbackAfterUserOnlineCommand", query: {}, body: {} })
 * // { name: "callbackAfterUserOnlineCommand", source: "path" }
 */
export function resolveCommand({
  path,
  query,
  body,
}: {
  path: string | undefined;
  query: Record<string, unknown> | undefined;
  body: Record<string, unknown>;
}): ResolvedCommand {
  const fromPath = pathCommand(path);
  if (fromPath) return { name: fromPath, source: "path" };
  const fromQuery = nonEmpty(firstValue(query?.["command"]));
  if (fromQuery) return { name: fromQuery, source: "query" };
  const fromBody = nonEmpty(typeof body["callbackCommand"] === "string" ? body["callbackCommand"] : undefined);
  if (fromBody) return { name: fromBody, source: "body" };
  return { name: undefined, source: undefined };
}

function pathCommand(path: string | undefined): string | undefined {
  if (!path) return undefined;
  const pathname = path.split(/[?#]/, 1)[0] ?? "";
  // A configured url with a trailing slash gives `//{command}`: empty segments are skipped.
  const last = pathname
    .split("/")
    .filter((segment) => segment !== "")
    .at(-1);
  if (last === undefined) return undefined;
  const segment = safeDecode(last);
  return COMMAND_SEGMENT.test(segment) ? segment : undefined;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}
