import { CallbackError, type CallbackErrorCode } from "@imrelay/core";
import { failAnswer, type OpenImAnswer } from "./answer.js";

/**
 * An OpenIM callback that must be refused. `status` is the HTTP status and
 * `response` the OpenIM FAIL envelope to answer with.
 *
 * @example
 * try {
 *   handleCallback(request, options);
 * } catch (err) {
 *   if (err instanceof OpenImCallbackError) res.status(err.status).json(err.response);
 *   else throw err;
 * }
 */
export class OpenImCallbackError extends CallbackError {
  /** The OpenIM FAIL envelope: `errCode` is `status`, `errDlt` is `code`, `errMsg` the message. */
  readonly response: OpenImAnswer;

  constructor(code: CallbackErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.response = failAnswer({ status: this.status, code, message });
  }
}
