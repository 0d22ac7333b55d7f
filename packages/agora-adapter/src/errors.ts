import { CallbackError, type CallbackErrorCode } from "@imrelay/core";
import { type AgoraErrorAnswer, failAnswer } from "./answer.js";

/**
 * An Agora Chat / Easemob callback that must be refused. `code` says why,
 * `status` is the HTTP status and `response` the error body to answer with.
 *
 * @example
 * try {
 *   handleCallback(request, options);
 * } catch (err) {
 *   if (err instanceof AgoraCallbackError) res.status(err.status).json(err.response);
 *   else throw err;
 * }
 */
export class AgoraCallbackError extends CallbackError {
  /** `{"status":"error","error":<code>,"error_description":<message>}`, under 1,000 bytes. */
  readonly response: AgoraErrorAnswer;

  constructor(code: CallbackErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.response = failAnswer({ status: this.status, code, message });
  }
}
