import { describe, expect, it } from "vitest";
import { CALLBACK_ERROR_STATUS, CallbackError, ImrelayError, isCallbackError, vendorTimeMs } from "../src/index.js";

describe("CallbackError", () => {
  it("carries its code, the code's status, and a working prototype chain", () => {
    const err = new CallbackError("APP_ID_MISMATCH", "SdkAppid does not match");
    expect(err).toBeInstanceOf(ImrelayError);
    expect(err).toBeInstanceOf(Error);
    expect(isCallbackError(err)).toBe(true);
    expect(err.status).toBe(403);
    expect(err.code).toBe("APP_ID_MISMATCH");
    expect(err.name).toBe("CallbackError");
  });

  it("maps every code to the contract's status", () => {
    expect(CALLBACK_ERROR_STATUS).toMatchObject({
      MALFORMED_BODY: 400,
      MALFORMED_HTTP: 400,
      SIGNATURE_MISMATCH: 401,
      APP_ID_MISMATCH: 403,
      IP_NOT_ALLOWED: 403,
      UNKNOWN_TENANT: 404,
      REQUEST_TIMEOUT: 408,
      PAYLOAD_TOO_LARGE: 413,
      UNSUPPORTED_MEDIA_TYPE: 415,
      HEADERS_TOO_LARGE: 431,
      RATE_LIMITED: 429,
      STORE_UNAVAILABLE: 503,
    });
  });
});

describe("vendorTimeMs", () => {
  it("takes epoch milliseconds and refuses seconds, counters and garbage", () => {
    expect(vendorTimeMs(1629883332497)).toBe(1629883332497);
    expect(vendorTimeMs("1629883332497")).toBe(1629883332497);
    expect(vendorTimeMs(1629883332)).toBeUndefined();
    expect(vendorTimeMs(42)).toBeUndefined();
    expect(vendorTimeMs("soon")).toBeUndefined();
    expect(vendorTimeMs(null)).toBeUndefined();
  });
});
