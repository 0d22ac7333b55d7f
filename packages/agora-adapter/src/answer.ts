/**
 * The OK body. Agora and Easemob read only the HTTP status of a callback's
 * answer, so the body is imrelay's own small envelope.
 */
export interface AgoraOkAnswer {
  status: "ok";
}

/** The body of a refused callback. */
export interface AgoraErrorAnswer {
  status: "error";
  /** The UPPER_SNAKE error code, e.g. `SIGNATURE_MISMATCH`. */
  error: string;
  /** What was wrong, without secrets; cut to keep the whole answer under `ANSWER_MAX_BYTES`. */
  error_description: string;
}

export type AgoraAnswer = AgoraOkAnswer | AgoraErrorAnswer;

/**
 * The largest answer body imrelay sends, in UTF-8 bytes (so also in
 * characters). Agora and Easemob count an answer of 1,000 characters or more
 * as an attack: the callback fails, and repeated ones get the rule banned.
 */
export const ANSWER_MAX_BYTES = 999;

/** Codes are short UPPER_SNAKE names; a longer one from a caller is cut to this. */
const CODE_MAX_LENGTH = 64;

const ELLIPSIS = "…";

/**
 * The OK answer, to send with HTTP 200.
 *
 * @example
 * res.status(200).json(okAnswer());
 * // {"status":"ok"}
 */
export function okAnswer(): AgoraOkAnswer {
  return { status: "ok" };
}

/** What an error answer is built from; any `CallbackError` fits. */
export interface FailAnswerInput {
  /** The HTTP status the callback is answered with (not part of the body). */
  status: number;
  /** The UPPER_SNAKE error code. */
  code: string;
  /** What was wrong; must not hold secrets. */
  message: string;
}

/**
 * The error answer for a refused callback, to send with the refusal's status.
 * The description is cut (ending in `…`) so the JSON body stays within
 * `ANSWER_MAX_BYTES`, whatever the message holds.
 *
 * @example
 * res.status(429).json(failAnswer({ status: 429, code: "RATE_LIMITED", message: "tenant acme is over its rate" }));
 * // {"status":"error","error":"RATE_LIMITED","error_description":"tenant acme is over its rate"}
 */
export function failAnswer({ code, message }: FailAnswerInput): AgoraErrorAnswer {
  const error = code.length > CODE_MAX_LENGTH ? code.slice(0, CODE_MAX_LENGTH) : code;
  const overhead = jsonBytes({ status: "error", error, error_description: "" });
  return { status: "error", error, error_description: fit(message, ANSWER_MAX_BYTES - overhead) };
}

function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), "utf8");
}

/** The longest start of `text` whose JSON string escape fits `budget` bytes, with `…` when cut. */
function fit(text: string, budget: number): string {
  // JSON.stringify(text) holds two quotes the overhead already counted (as "").
  if (jsonBytes(text) - 2 <= budget) return text;
  const room = budget - Buffer.byteLength(ELLIPSIS, "utf8");
  let used = 0;
  let kept = "";
  // By code point, so a surrogate pair is never split; each is measured as JSON escapes it.
  for (const char of text) {
    const size = jsonBytes(char) - 2;
    if (used + size > room) break;
    used += size;
    kept += char;
  }
  return kept + ELLIPSIS;
}
