import { CallbackError, type CallbackErrorCode } from "@imrelay/core";
import { failAnswer, type TencentAnswer } from "./answer.js";

/**
 * A Tencent callback that must be refused. `code` says why, `status` is the
 * HTTP status and `response` the Tencent FAIL body to answer with.
 *
 * @example
 * try {
 *   handleCallback(request, options);
 * } catch (err) {
 *   if (err instanceof TencentCallbackError) res.status(err.status).json(err.response);
 *   else throw err;
 * }
 */
export class TencentCallbackError extends CallbackError {
  /** The Tencent FAIL body: `{"ActionStatus":"FAIL","ErrorCode":1,"ErrorInfo":<message>}`. */
  readonly response: TencentAnswer;

  constructor(code: CallbackErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.response = failAnswer(message);
  }
}
