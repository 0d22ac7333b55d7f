/**
 * The body OpenIM expects back from a webhook (`pkg/callbackstruct` `CommonCallbackResp`).
 * OpenIM ignores the answer of the after-hooks imrelay handles, but it logs a
 * body that is not JSON as an error, so every answer, failures included, is
 * this envelope.
 */
export interface OpenImAnswer {
  /** 0 when the callback was taken, 1 when it was refused. */
  actionCode: 0 | 1;
  /** 0 on success; on failure, the HTTP status imrelay answered with. */
  errCode: number;
  /** What was wrong, without secrets; empty on success. */
  errMsg: string;
  /** The UPPER_SNAKE error code; empty on success. */
  errDlt: string;
  /** Always 0: imrelay never asks OpenIM to stop its own processing. */
  nextCode: 0;
}

/**
 * The OK envelope, to send with HTTP 200.
 *
 * @example
 * res.status(200).json(okAnswer());
 * // {"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}
 */
export function okAnswer(): OpenImAnswer {
  return { actionCode: 0, errCode: 0, errMsg: "", errDlt: "", nextCode: 0 };
}

/** What a FAIL envelope is built from; any `CallbackError` fits. */
export interface FailAnswerInput {
  /** The HTTP status the callback is answered with. */
  status: number;
  /** The UPPER_SNAKE error code. */
  code: string;
  /** What was wrong; must not hold secrets. */
  message: string;
}

/**
 * The FAIL envelope for a refused callback, to send with the error's status.
 *
 * @example
 * failAnswer({ status: 429, code: "RATE_LIMITED", message: "tenant acme is over its rate" });
 * // {"actionCode":1,"errCode":429,"errMsg":"tenant acme is over its rate","errDlt":"RATE_LIMITED","nextCode":0}
 */
export function failAnswer({ status, code, message }: FailAnswerInput): OpenImAnswer {
  return { actionCode: 1, errCode: status, errMsg: message, errDlt: code, nextCode: 0 };
}
