/**
 * The body imrelay answers NetEase with: NetEase's own API envelope. NetEase
 * reads only the HTTP status of a copy's answer (200 within 5 s is success),
 * so the body is for people reading logs on either side.
 */
export interface NeteaseAnswer {
  /** 200 when the copy was taken; otherwise the HTTP status it was refused with. */
  code: number;
  /** What was wrong, without secrets; absent on success. */
  desc?: string;
}

/**
 * The OK answer, to send with HTTP 200.
 *
 * @example
 * res.status(200).json(okAnswer());
 * // {"code":200}
 */
export function okAnswer(): NeteaseAnswer {
  return { code: 200 };
}

/** A refusal to answer; any `CallbackError` fits, and so does a gateway's own (413, 429, 503 …). */
export interface NeteaseRefusal {
  /** The HTTP status the copy is answered with; it becomes the envelope's `code`. */
  status: number;
  /**
   * The UPPER_SNAKE error code. NetEase's envelope has no place for it, so it
   * is not sent; it is accepted so that every vendor's `failAnswer` takes the same refusal.
   */
  code?: string;
  /** What was wrong; sent as `desc`, so it must not hold secrets. */
  message: string;
}

/**
 * The failure envelope for a refused copy, to send with the refusal's status.
 *
 * @example
 * res.status(429).json(failAnswer({ status: 429, code: "RATE_LIMITED", message: "tenant acme is over its rate" }));
 * // {"code":429,"desc":"tenant acme is over its rate"}
 */
export function failAnswer({ status, message }: NeteaseRefusal): NeteaseAnswer {
  return { code: status, desc: message };
}
