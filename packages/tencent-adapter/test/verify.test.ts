import { describe, expect, it } from "vitest";
import { signTencentQuery, TencentCallbackError, tencentSign, verifySignature } from "../src/index.js";
import {
  accept,
  fixture,
  OPTIONS,
  SDK_APP_ID,
  stateChangeQuery,
  TOKEN,
  thrown,
  VECTOR_SIGN,
  VECTOR_TIME,
} from "./helpers.js";

const BODY = fixture("login-register-kicked.txt");
/** The fake clock at the vector's RequestTime. */
const AT_VECTOR = VECTOR_TIME * 1000;
const SIGNED = { ...OPTIONS, token: TOKEN, now: AT_VECTOR };

function signedQuery(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return stateChangeQuery({ RequestTime: String(VECTOR_TIME), Sign: VECTOR_SIGN, ...overrides });
}

function refusal(query: Record<string, unknown>, options = SIGNED): TencentCallbackError {
  const err = thrown(() => accept({ body: BODY, query }, options));
  expect(err).toBeInstanceOf(TencentCallbackError);
  const error = err as TencentCallbackError;
  expect(error.status).toBe(401);
  expect(error.response.ActionStatus).toBe("FAIL");
  expect(error.response.ErrorInfo).toBe(error.message);
  // Neither the token nor any Sign may reach Tencent's logs or ours.
  expect(error.message).not.toContain(TOKEN);
  expect(error.message).not.toContain(VECTOR_SIGN.slice(0, 16));
  return error;
}

describe("tencentSign", () => {
  it("matches the test vector in Tencent's docs", () => {
    expect(tencentSign(TOKEN, "1669872112")).toBe(VECTOR_SIGN);
    expect(tencentSign(TOKEN, 1669872112)).toBe(VECTOR_SIGN);
  });
});

describe("handleCallback signature", () => {
  it("accepts the docs' test vector at its RequestTime", () => {
    const result = accept({ body: BODY, query: signedQuery() }, SIGNED);
    expect(result.events).toHaveLength(1);
  });

  it.each([
    ["60 s after", 60_000],
    ["60 s before", -60_000],
    ["59.999 s after", 59_999],
  ])("accepts a RequestTime %s now", (_, offsetMs) => {
    const result = accept({ body: BODY, query: signedQuery() }, { ...SIGNED, now: AT_VECTOR + offsetMs });
    expect(result.events).toHaveLength(1);
  });

  it.each([
    ["61 s before now", 61_000],
    ["61 s after now", -61_000],
    ["a day old", 86_400_000],
  ])("answers 401 SIGNATURE_EXPIRED when RequestTime is %s", (_, offsetMs) => {
    const err = refusal(signedQuery(), { ...SIGNED, now: AT_VECTOR + offsetMs });
    expect(err.code).toBe("SIGNATURE_EXPIRED");
    expect(err.message).toBe("RequestTime is outside the 60 s window");
  });

  it("honours a wider toleranceSec", () => {
    const options = { ...SIGNED, now: AT_VECTOR + 300_000, toleranceSec: 300 };
    expect(accept({ body: BODY, query: signedQuery() }, options).events).toHaveLength(1);
    expect(refusal(signedQuery(), { ...options, now: AT_VECTOR + 301_000 }).code).toBe("SIGNATURE_EXPIRED");
  });

  it("accepts an upper-case Sign", () => {
    const result = accept({ body: BODY, query: signedQuery({ Sign: VECTOR_SIGN.toUpperCase() }) }, SIGNED);
    expect(result.events).toHaveLength(1);
  });

  it("uses the first Sign and RequestTime when they are repeated", () => {
    const query = signedQuery({ Sign: [VECTOR_SIGN, "0"], RequestTime: [String(VECTOR_TIME), "1"] });
    expect(accept({ body: BODY, query }, SIGNED).events).toHaveLength(1);
  });

  it.each([
    ["Sign is missing", { Sign: undefined }],
    ["RequestTime is missing", { RequestTime: undefined }],
    ["Sign is empty", { Sign: "" }],
  ])("answers 401 SIGNATURE_MISSING when %s", (_, overrides) => {
    const err = refusal(signedQuery(overrides));
    expect(err.code).toBe("SIGNATURE_MISSING");
    expect(err.response).toEqual({
      ActionStatus: "FAIL",
      ErrorCode: 1,
      ErrorInfo: "Sign and RequestTime are required in the query",
    });
  });

  it.each(["soon", "1669872112.5", "-1669872112", "1e9"])(
    "answers 401 SIGNATURE_MISSING when RequestTime is %s",
    (requestTime) => {
      const err = refusal(signedQuery({ RequestTime: requestTime }));
      expect(err.code).toBe("SIGNATURE_MISSING");
      expect(err.message).toBe("RequestTime is not a Unix time in seconds");
    },
  );

  it.each([
    ["one hex digit is wrong", `${VECTOR_SIGN.slice(0, -1)}0`],
    ["it is one character short", VECTOR_SIGN.slice(0, -1)],
    ["it is one character long", `${VECTOR_SIGN}0`],
    ["it is made with another token", tencentSign("xxxxyyyz", VECTOR_TIME)],
    ["it is an HMAC rather than a plain hash", "0".repeat(64)],
    ["it holds multi-byte characters", "é".repeat(32)],
  ])("answers 401 SIGNATURE_MISMATCH when Sign %s", (_, sign) => {
    const err = refusal(signedQuery({ Sign: sign }));
    expect(err.code).toBe("SIGNATURE_MISMATCH");
    expect(err.response).toEqual({ ActionStatus: "FAIL", ErrorCode: 1, ErrorInfo: "Sign does not match" });
  });

  it("answers SIGNATURE_MISMATCH when the Sign is for another RequestTime", () => {
    const err = refusal(signedQuery({ RequestTime: String(VECTOR_TIME + 1) }));
    expect(err.code).toBe("SIGNATURE_MISMATCH");
  });

  it("checks the signature before SdkAppid and the body", () => {
    const err = thrown(() =>
      accept({ body: "not json", query: signedQuery({ Sign: "bad", SdkAppid: "1400000001" }) }, SIGNED),
    );
    expect((err as TencentCallbackError).code).toBe("SIGNATURE_MISMATCH");
  });

  it("checks the signature of callbacks it does not map", () => {
    const query = signedQuery({ CallbackCommand: "C2C.CallbackAfterSendMsg", Sign: undefined });
    expect(refusal(query).code).toBe("SIGNATURE_MISSING");
  });

  it("ignores Sign and RequestTime when no token is configured", () => {
    const result = accept({ body: BODY, query: signedQuery({ Sign: "garbage", RequestTime: "0" }) }, OPTIONS);
    expect(result.events).toHaveLength(1);
  });

  it("refuses to run with an empty token, which anyone could sign for", () => {
    expect(() => accept({ body: BODY, query: signedQuery() }, { ...SIGNED, token: "" })).toThrow(TypeError);
  });
});

describe("verifySignature", () => {
  it("can be used on its own", () => {
    expect(() => verifySignature(signedQuery(), { token: TOKEN, now: AT_VECTOR })).not.toThrow();
    expect(() => verifySignature({}, { token: TOKEN, now: AT_VECTOR })).toThrow(TencentCallbackError);
  });

  it("checks every callback of one second against its own token, however often that second's Sign was computed", () => {
    const now = Date.UTC(2025, 0, 1);
    const query = (token: string) => signTencentQuery({ token, sdkAppId: SDK_APP_ID, now });
    const mismatch = { code: "SIGNATURE_MISMATCH" };
    for (let i = 0; i < 3; i++)
      expect(() => verifySignature(query("token-a"), { token: "token-a", now })).not.toThrow();
    // The same second, another tenant's token: its own Sign, not the one just computed.
    expect(thrown(() => verifySignature(query("token-a"), { token: "token-b", now }))).toMatchObject(mismatch);
    expect(() => verifySignature(query("token-b"), { token: "token-b", now })).not.toThrow();
    // A forged Sign in a second already seen is still refused.
    expect(
      thrown(() => verifySignature({ ...query("token-a"), Sign: "0".repeat(64) }, { token: "token-a", now })),
    ).toMatchObject(mismatch);
    // The next second of the same token: checked afresh.
    const later = now + 1000;
    expect(() =>
      verifySignature(signTencentQuery({ token: "token-a", sdkAppId: SDK_APP_ID, now: later }), {
        token: "token-a",
        now: later,
      }),
    ).not.toThrow();
    expect(
      thrown(() =>
        verifySignature({ ...query("token-a"), RequestTime: String(later / 1000) }, { token: "token-a", now: later }),
      ),
    ).toMatchObject(mismatch);
    // Many tokens (past the memory's bound) are each still checked against their own.
    for (let i = 0; i < 300; i++) {
      expect(() => verifySignature(query(`token-${i}`), { token: `token-${i}`, now })).not.toThrow();
    }
    expect(() => verifySignature(query("token-a"), { token: "token-a", now })).not.toThrow();
  });
});

describe("signTencentQuery", () => {
  it("builds the query Tencent sends, with the docs' Sign for the docs' time", () => {
    expect(signTencentQuery({ token: TOKEN, sdkAppId: SDK_APP_ID, now: AT_VECTOR + 999 })).toEqual({
      SdkAppid: SDK_APP_ID,
      CallbackCommand: "State.StateChange",
      contenttype: "json",
      ClientIP: "127.0.0.1",
      OptPlatform: "IOS",
      RequestTime: String(VECTOR_TIME),
      Sign: VECTOR_SIGN,
    });
  });

  it("builds a query handleCallback accepts", () => {
    const now = Date.UTC(2025, 0, 1);
    const query = signTencentQuery({
      token: "s3cret",
      sdkAppId: SDK_APP_ID,
      now,
      optPlatform: "Web",
      clientIp: "10.0.0.7",
    });
    const [event] = accept({ body: BODY, query }, { ...OPTIONS, token: "s3cret", now: now + 30_000 }).events;
    expect(event?.platform).toBe("web");
    expect(event?.clientIp).toBe("10.0.0.7");
  });

  it("leaves Sign and RequestTime out without a token", () => {
    const query = signTencentQuery({ sdkAppId: SDK_APP_ID, callbackCommand: "C2C.CallbackAfterSendMsg" });
    expect(query).not.toHaveProperty("Sign");
    expect(query).not.toHaveProperty("RequestTime");
    expect(query["CallbackCommand"]).toBe("C2C.CallbackAfterSendMsg");
  });
});
