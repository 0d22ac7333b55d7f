import { userIdProblem } from "@imrelay/core";
import { AgoraCallbackError } from "./errors.js";

/** Who logged in or out, and on which device. */
export interface AgoraUser {
  /** The app's own user id, without the appkey prefix, domain or resource. */
  userId: string;
  /**
   * The resource, `{os}_{deviceId}` (`ios_6d58…`, `webim_1778…`): the device
   * key, as one user may have up to 4 devices online per platform. `null`
   * when `user` names none.
   */
  resource: string | null;
}

/**
 * Splits a callback's `user`, `{appkey}_{userId}[@easemob.com]/{resource}`,
 * into the user id and the resource. The vendors' docs disagree on the exact
 * shape, so every part is optional:
 *
 * 1. the resource is what follows the first `/`;
 * 2. the `{appkey}_` prefix is stripped; when `user` starts with another
 *    appkey, it is cut at the first `_` after the `#` (app names never hold
 *    `_`, user ids may: `61000000#acme_bob_smith` is `bob_smith`);
 * 3. an `@domain` tail is dropped (user ids never hold `@`);
 * 4. a `user` with none of these is the user id as it is.
 *
 * Throws `AgoraCallbackError` MALFORMED_BODY (400) when `user` is missing,
 * names no user id, or the user id or resource breaks core's limits
 * (`userIdProblem`); the message never quotes the value.
 *
 * @example
 * parseUser("61000000#acme_alice@easemob.com/ios_6d580737-db3a-d2b5-da18-b6045ffd195b", "61000000#acme");
 * // { userId: "alice", resource: "ios_6d580737-db3a-d2b5-da18-b6045ffd195b" }
 * parseUser("bob", "61000000#acme"); // { userId: "bob", resource: null }
 */
export function parseUser(user: unknown, appKey: string): AgoraUser {
  if (user === undefined || user === null || user === "") {
    throw new AgoraCallbackError("MALFORMED_BODY", "user is missing");
  }
  if (typeof user !== "string") throw new AgoraCallbackError("MALFORMED_BODY", "user is not a string");

  const slash = user.indexOf("/");
  const jid = slash === -1 ? user : user.slice(0, slash);
  const resource = slash === -1 || slash === user.length - 1 ? null : user.slice(slash + 1);

  const at = jid.indexOf("@");
  const userId = withoutAppKey(at === -1 ? jid : jid.slice(0, at), appKey);
  if (userId === "") throw new AgoraCallbackError("MALFORMED_BODY", "user names no user id");

  const problem = userIdProblem(userId);
  if (problem) throw new AgoraCallbackError("MALFORMED_BODY", `the user id in user ${problem}`);
  // The resource becomes a device key in presence: the same limits keep it out of trouble there.
  const resourceProblem = resource === null ? undefined : userIdProblem(resource);
  if (resourceProblem) throw new AgoraCallbackError("MALFORMED_BODY", `the resource in user ${resourceProblem}`);

  return { userId, resource };
}

function withoutAppKey(name: string, appKey: string): string {
  if (name.startsWith(`${appKey}_`)) return name.slice(appKey.length + 1);
  const hash = name.indexOf("#");
  if (hash === -1) return name;
  const underscore = name.indexOf("_", hash + 1);
  if (underscore === -1) {
    throw new AgoraCallbackError("MALFORMED_BODY", "user has an appkey (org#app) but no _ before a user id");
  }
  return name.slice(underscore + 1);
}
