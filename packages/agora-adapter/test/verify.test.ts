import { CallbackError } from "@imrelay/core";
import { describe, expect, it } from "vitest";
import { AgoraCallbackError, agoraSecurity, handleCallback } from "../src/index.js";
import {
  accept,
  fixture,
  NOW,
  OPTIONS,
  SECRET,
  SIGNED,
  sampleWith,
  thrown,
  VECTOR_CALL_ID,
  VECTOR_SECURITY,
  VECTOR_TIMESTAMP,
} from "./helpers.js";

describe("agoraSecurity", () => {
  it("gives the documented test vector", () => {
    expect(agoraSecurity(VECTOR_CALL_ID, SECRET, VECTOR_TIMESTAMP)).toBe(VECTOR_SECURITY);
    expect(agoraSecurity(VECTOR_CALL_ID, SECRET, String(VECTOR_TIMESTAMP))).toBe(VECTOR_SECURITY);
  });
});

describe("handleCallback with a secret", () => {
  it("accepts the vendor's sample, whose security is the test vector", () => {
    const result = accept(fixture("logout-ios.txt"), SIGNED);
    expect(result.events).toHaveLength(1);
    expect(result.events[0]?.userId).toBe("alice");
  });

  it("accepts security in upper case", () => {
    expect(accept(sampleWith({ security: VECTOR_SECURITY.toUpperCase() }), SIGNED).events).toHaveLength(1);
  });

  it("accepts a timestamp sent as a numeric string", () => {
    const result = accept(sampleWith({ timestamp: String(VECTOR_TIMESTAMP) }), SIGNED);
    expect(result.events[0]?.occurredAt).toBe("2022-01-20T03:21:54.742Z");
  });

  it("hashes a string timestamp as it is sent, leading zeros included", () => {
    const timestamp = `0${VECTOR_TIMESTAMP}`;
    const security = agoraSecurity(VECTOR_CALL_ID, SECRET, timestamp);
    expect(security).not.toBe(VECTOR_SECURITY);
    expect(accept(sampleWith({ timestamp, security }), SIGNED).events).toHaveLength(1);
    // The same digits as a number are the number's digits, so the string's hash does not fit them.
    expect(thrown(() => accept(sampleWith({ timestamp: VECTOR_TIMESTAMP, security }), SIGNED))).toMatchObject({
      code: "SIGNATURE_MISMATCH",
    });
  });

  it("never refuses a callback for its age", () => {
    const years = 10 * 365 * 24 * 3600 * 1000;
    expect(accept(fixture("logout-ios.txt"), { ...SIGNED, now: NOW + years }).events).toHaveLength(1);
    expect(accept(fixture("logout-ios.txt"), { ...SIGNED, now: NOW - years }).events).toHaveLength(1);
  });

  it("answers 401 SIGNATURE_MISSING when security is missing, null or empty", () => {
    for (const security of [undefined, null, ""]) {
      const err = thrown(() => accept(sampleWith({ security }), SIGNED));
      expect(err).toBeInstanceOf(AgoraCallbackError);
      expect(err).toBeInstanceOf(CallbackError);
      expect(err).toMatchObject({
        code: "SIGNATURE_MISSING",
        status: 401,
        message: "security is missing from the body",
        response: {
          status: "error",
          error: "SIGNATURE_MISSING",
          error_description: "security is missing from the body",
        },
      });
    }
  });

  it("answers 401 SIGNATURE_MISSING when security is not a string", () => {
    expect(thrown(() => accept(sampleWith({ security: 12345 }), SIGNED))).toMatchObject({
      code: "SIGNATURE_MISSING",
      message: "security is not a string",
    });
  });

  it("answers 401 SIGNATURE_MISSING when callId, which security signs, is missing", () => {
    expect(thrown(() => accept(sampleWith({ callId: undefined }), SIGNED))).toMatchObject({
      code: "SIGNATURE_MISSING",
      status: 401,
    });
  });

  it("answers 401 SIGNATURE_MISSING when timestamp is missing or not whole milliseconds", () => {
    for (const timestamp of [undefined, null, "1642648914742.5", 1642648914742.5, "-1", "soon", true, ""]) {
      expect(
        thrown(() => accept(sampleWith({ timestamp }), SIGNED)),
        String(timestamp),
      ).toMatchObject({
        code: "SIGNATURE_MISSING",
        status: 401,
      });
    }
  });

  it("answers 401 SIGNATURE_MISMATCH when security is wrong", () => {
    const err = thrown(() => accept(sampleWith({ security: "0".repeat(32) }), SIGNED));
    expect(err).toMatchObject({
      code: "SIGNATURE_MISMATCH",
      status: 401,
      response: { status: "error", error: "SIGNATURE_MISMATCH", error_description: "security does not match" },
    });
  });

  it("answers 401 SIGNATURE_MISMATCH when security has the wrong length", () => {
    for (const security of [VECTOR_SECURITY.slice(1), `${VECTOR_SECURITY}0`, "x".repeat(100_000)]) {
      expect(thrown(() => accept(sampleWith({ security }), SIGNED))).toMatchObject({ code: "SIGNATURE_MISMATCH" });
    }
  });

  it("answers 401 SIGNATURE_MISMATCH when the secret is another rule's", () => {
    expect(thrown(() => accept(fixture("logout-ios.txt"), { ...OPTIONS, secret: "other-rule" }))).toMatchObject({
      code: "SIGNATURE_MISMATCH",
    });
  });

  it("answers 401 SIGNATURE_MISMATCH when callId or timestamp was changed after signing", () => {
    const changed = [{ callId: `${VECTOR_CALL_ID}0` }, { timestamp: VECTOR_TIMESTAMP + 1 }];
    for (const change of changed) {
      expect(thrown(() => accept(sampleWith(change), SIGNED))).toMatchObject({ code: "SIGNATURE_MISMATCH" });
    }
  });

  it("checks security on message callbacks too", () => {
    expect(accept(fixture("message-chat.txt"), SIGNED).unrecognized).toBe(true);
    const forged = JSON.stringify({ ...JSON.parse(fixture("message-chat.txt")), security: "f".repeat(32) });
    expect(thrown(() => accept(forged, SIGNED))).toMatchObject({ code: "SIGNATURE_MISMATCH" });
  });

  it("never puts the secret or the expected security in the error", () => {
    const err = thrown(() => accept(sampleWith({ security: "0".repeat(32) }), SIGNED)) as AgoraCallbackError;
    const text = JSON.stringify({ message: err.message, response: err.response });
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(VECTOR_SECURITY);
  });

  it("throws a TypeError for an empty secret, which anyone could sign for", () => {
    expect(() => handleCallback({ body: fixture("logout-ios.txt") }, { ...OPTIONS, secret: "" })).toThrowError(
      new TypeError("secret must be a non-empty string when set"),
    );
  });
});

describe("handleCallback without a secret", () => {
  it("ignores security, wrong or missing", () => {
    expect(accept(sampleWith({ security: "0".repeat(32) })).events).toHaveLength(1);
    expect(accept(sampleWith({ security: undefined })).events).toHaveLength(1);
  });
});
