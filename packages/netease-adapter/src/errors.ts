import { CallbackError, type CallbackErrorCode } from "@imrelay/core";
import { failAnswer, type NeteaseAnswer } from "./answer.js";

/**
 * A NetEase copy that must be refused. `code` says why (UPPER_SNAKE),
 * `status` is the HTTP status and `response` the envelope to answer with.
 *
 * @example
 * try {
 *   handleCallback(request, options);
 * } catch (err) {
 *   if (err instanceof NeteaseCallbackError) res.status(err.status).json(err.response);
 *   else throw err;
 * }
 */
export class NeteaseCallbackError extends CallbackError {
  /** The failure envelope: `{"code":<status>,"desc":<message>}`. */
  readonly response: NeteaseAnswer;

  constructor(code: CallbackErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.response = failAnswer({ status: this.status, code, message });
  }
}
