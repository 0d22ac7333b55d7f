/**
 * The body Tencent Cloud IM expects back from a callback. Tencent counts a
 * non-200 status or a body that is not this JSON as a failed callback.
 */
export interface TencentAnswer {
  /** `OK` when the callback was taken, `FAIL` when it was refused. */
  ActionStatus: "OK" | "FAIL";
  /** 0 on success, 1 on failure (the only two values Tencent documents). */
  ErrorCode: 0 | 1;
  /** What was wrong, without secrets; empty on success. */
  ErrorInfo: string;
}

/**
 * The OK answer, to send with HTTP 200.
 *
 * @example
 * res.status(200).json(okAnswer());
 * // {"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}
 */
export function okAnswer(): TencentAnswer {
  return { ActionStatus: "OK", ErrorCode: 0, ErrorInfo: "" };
}

/**
 * The FAIL answer for a refused callback, to send with the error's status.
 * `message` is sent to Tencent as is, so it must not hold secrets.
 *
 * @example
 * res.status(429).json(failAnswer("tenant acme is over its rate"));
 * // {"ActionStatus":"FAIL","ErrorCode":1,"ErrorInfo":"tenant acme is over its rate"}
 */
export function failAnswer(message: string): TencentAnswer {
  return { ActionStatus: "FAIL", ErrorCode: 1, ErrorInfo: message };
}
