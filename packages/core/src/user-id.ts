/**
 * The longest user id imrelay takes, in UTF-16 code units. Vendors cap theirs
 * far lower (Tencent 32 bytes, NetEase 32, OpenIM and Easemob 64), so a longer
 * one is a broken or hostile caller, not a real user.
 */
export const USER_ID_MAX_LENGTH = 256;

// C0 controls and DEL: a NUL or newline in a user id breaks logs, keys and receivers.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this pattern's job
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Why a user id is not one imrelay takes, or undefined when it is fine.
 * Adapters turn the reason into their own 400 (`MALFORMED_BODY`).
 *
 * @example
 * userIdProblem("testuser316");          // undefined
 * userIdProblem("a\u0000b");             // "contains a control character"
 * userIdProblem("x".repeat(40_000));     // "is longer than 256 characters"
 */
export function userIdProblem(userId: string): string | undefined {
  if (userId.length > USER_ID_MAX_LENGTH) return `is longer than ${USER_ID_MAX_LENGTH} characters`;
  if (CONTROL.test(userId)) return "contains a control character";
  return undefined;
}
