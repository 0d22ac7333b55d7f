import type { BasicAuthCredentials } from "./basic-auth.js";

/** Names OpenIM gives each `platformID` (open-im-server `pkg/common/constant`). */
const PLATFORM_NAMES: Record<number, string> = {
  1: "IOS",
  2: "Android",
  3: "Windows",
  4: "OSX",
  5: "Web",
  6: "MiniWeb",
  7: "Linux",
  8: "APad",
  9: "IPad",
  10: "Admin",
  11: "HarmonyOS",
};

export interface OpenImRequestInput {
  /**
   * The command OpenIM sends.
   * @default "callbackAfterUserOnlineCommand"
   */
  command?: string;
  /** The OpenIM `userID`. */
  userId: string;
  /**
   * The OpenIM `platformID` (1 IOS … 11 HarmonyOS).
   * @default 5 (Web)
   */
  platformId?: number;
  /**
   * The `platform` name; OpenIM sends `""` for ids it does not know.
   * @default the name OpenIM gives `platformId`
   */
  platform?: string;
  /**
   * The sender's wall clock in ms, as OpenIM puts in `seq`.
   * @default Date.now()
   */
  seq?: number;
  /**
   * `isAppBackground`, which OpenIM sends only with online.
   * @default false on online commands, absent otherwise
   */
  isAppBackground?: boolean;
  /**
   * `connID`, which OpenIM v3.8 always sends empty (and not at all with kick-off).
   * @default "" (absent on kick-off commands)
   */
  connId?: string;
  /**
   * The `operationID`, sent both as a header (as Go spells it, `Operationid`) and in the body.
   * @default a value derived from `seq`
   */
  operationId?: string;
  /**
   * Where the command goes: `"path"` as v3.8 sends it (`{basePath}/{command}`)
   * or `"query"` as older servers do (`?command=…&contenttype=json`).
   * @default "path"
   */
  style?: "path" | "query";
  /**
   * The path of the url configured in OpenIM's `webhooks.yml`; end it with `/` to get v3.8's `//{command}`.
   * @default "/openim"
   */
  basePath?: string;
  /** Credentials to send as `Authorization: Basic`, as Go does for `http://user:pass@host` urls. */
  basicAuth?: BasicAuthCredentials;
}

/** A request shaped like the one OpenIM sends; fits `handleCallback` as is. */
export interface OpenImTestRequest {
  /** The JSON body, ending with a newline like OpenIM's. */
  body: string;
  /** The request path, without query. */
  path: string;
  /** The query parameters (empty in `"path"` style). */
  query: Record<string, string>;
  /** The headers, spelled as Go's HTTP client sends them. */
  headers: Record<string, string>;
  /** `path` plus the query string, to append to a base url for `fetch`. */
  url: string;
}

/**
 * Builds a request shaped like the user presence webhooks OpenIM v3.8 sends,
 * for testing code that receives them.
 *
 * @example
 * const req = openImRequest({ command: "callbackAfterUserOfflineCommand", userId: "u1", platformId: 1 });
 * handleCallback(req, { tenant: "acme", appId: "acme-openim" }).events[0]?.status; // "offline"
 * await fetch(`http://127.0.0.1:${port}${req.url}`, { method: "POST", headers: req.headers, body: req.body });
 */
export function openImRequest(input: OpenImRequestInput): OpenImTestRequest {
  const command = input.command ?? "callbackAfterUserOnlineCommand";
  const platformId = input.platformId ?? 5;
  const seq = input.seq ?? Date.now();
  const operationId = input.operationId ?? `p_${seq % 100000}_${platformId}`;
  const isOnline = /online/i.test(command);
  const isKickOff = /kickoff/i.test(command);

  // Field order follows v3.8's structs, so the body reads like a captured one.
  const body: Record<string, unknown> = {
    callbackCommand: command,
    operationID: operationId,
    platformID: platformId,
    platform: input.platform ?? PLATFORM_NAMES[platformId] ?? "",
    userID: input.userId,
    seq,
  };
  if (isOnline || input.isAppBackground !== undefined) body["isAppBackground"] = input.isAppBackground ?? false;
  if (!isKickOff || input.connId !== undefined) body["connID"] = input.connId ?? "";

  const basePath = input.basePath ?? "/openim";
  const style = input.style ?? "path";
  const path = style === "path" ? `${basePath}/${command}` : basePath;
  const query: Record<string, string> = style === "query" ? { command, contenttype: "json" } : {};
  const search = new URLSearchParams(query).toString();

  const headers: Record<string, string> = {
    "Content-Type": "application/json; charset=utf-8",
    Operationid: operationId,
  };
  if (input.basicAuth) {
    const { username, password } = input.basicAuth;
    headers["Authorization"] = `Basic ${Buffer.from(`${username}:${password}`, "utf8").toString("base64")}`;
  }

  return { body: `${JSON.stringify(body)}\n`, path, query, headers, url: search ? `${path}?${search}` : path };
}
