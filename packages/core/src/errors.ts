/**
 * Why a callback was refused. Each code has one HTTP status, so every layer
 * (adapter, middleware, gateway) answers the same thing for the same fault.
 */
export const CALLBACK_ERROR_STATUS = {
  /** The body is not JSON, lacks a field the vendor always sends, or holds an absurd value (a user id with a NUL). */
  MALFORMED_BODY: 400,
  /** The request is not valid HTTP (the server refused it before any route ran). */
  MALFORMED_HTTP: 400,
  /** A required query parameter (e.g. Tencent `SdkAppid`) is missing. */
  MALFORMED_QUERY: 400,
  /** Signing is configured, but `Sign` or `RequestTime` is missing. */
  SIGNATURE_MISSING: 401,
  /** `RequestTime` is outside the accepted window. */
  SIGNATURE_EXPIRED: 401,
  /** `Sign` does not match the configured token. */
  SIGNATURE_MISMATCH: 401,
  /** Basic auth is configured and the request has none. */
  CREDENTIALS_MISSING: 401,
  /** Basic auth credentials do not match. */
  CREDENTIALS_INVALID: 401,
  /** The vendor app id in the callback is not the tenant's. */
  APP_ID_MISMATCH: 403,
  /** The caller's address is not in the tenant's `allowIps`. */
  IP_NOT_ALLOWED: 403,
  /** No tenant (or no such provider for the tenant) under that path. */
  UNKNOWN_TENANT: 404,
  /** The headers or the body did not arrive in time. */
  REQUEST_TIMEOUT: 408,
  /** The body is over the gateway's limit (once decompressed too). */
  PAYLOAD_TOO_LARGE: 413,
  /** The content type is not JSON, or the content encoding is not one imrelay decodes. */
  UNSUPPORTED_MEDIA_TYPE: 415,
  /** The request's headers are over the server's limit. */
  HEADERS_TOO_LARGE: 431,
  /** The tenant is over its configured rate. */
  RATE_LIMITED: 429,
  /** An unexpected fault inside imrelay. */
  INTERNAL: 500,
  /**
   * The event could not be confirmed stored. The message says what is known:
   * in the gateway, not queued (Redis was not connected, or refused the write),
   * or, when Redis's reply was late or lost after sending, that it may have been.
   */
  STORE_UNAVAILABLE: 503,
} as const;

export type CallbackErrorCode = keyof typeof CALLBACK_ERROR_STATUS;

/** Base of every imrelay error: a stable UPPER_SNAKE `code` and a short message. */
export class ImrelayError<Code extends string = string> extends Error {
  readonly code: Code;
  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/**
 * A vendor callback that must be refused. `status` is the HTTP status to
 * answer with; adapters subclass it to add the vendor's FAIL body.
 */
export class CallbackError extends ImrelayError<CallbackErrorCode> {
  readonly status: number;
  constructor(code: CallbackErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.status = CALLBACK_ERROR_STATUS[code];
  }
}

export function isCallbackError(err: unknown): err is CallbackError {
  return err instanceof CallbackError;
}
