import { type CallbackErrorCode, isCallbackError } from "@imrelay/core";
import type { Vendor } from "./vendor.js";

/** A refused callback's answer: status, the vendor's FAIL envelope, and the code for logs and metrics. */
export interface FailedAnswer {
  status: number;
  code: CallbackErrorCode;
  body: unknown;
  /** Whether the fault is imrelay's (500) rather than the caller's or the store's. */
  unexpected: boolean;
}

/**
 * The one place any error of a callback becomes the vendor's FAIL envelope.
 * A `CallbackError` keeps its status and message (an adapter's own envelope
 * when it has one); anything else is a 500 whose text says nothing of the
 * cause, which is logged instead.
 *
 * @example
 * const { status, body } = errorToAnswer(err, tencentVendor);
 * res.status(status).json(body);
 */
export function errorToAnswer(err: unknown, vendor: Vendor): FailedAnswer {
  if (isCallbackError(err)) {
    const own = (err as { response?: unknown }).response;
    return {
      status: err.status,
      code: err.code,
      body: own ?? vendor.fail({ status: err.status, code: err.code, message: err.message }),
      unexpected: err.code === "INTERNAL",
    };
  }
  return {
    status: 500,
    code: "INTERNAL",
    body: vendor.fail({ status: 500, code: "INTERNAL", message: "an unexpected error inside imrelay; it was logged" }),
    unexpected: true,
  };
}
