import { CALLBACK_ERROR_STATUS, type CallbackErrorCode } from "@imrelay/core";
import { describe, expect, it } from "vitest";
import { AgoraCallbackError, ANSWER_MAX_BYTES, failAnswer, handleCallback, okAnswer } from "../src/index.js";
import { OPTIONS, SIGNED, sampleWith, thrown } from "./helpers.js";

/** What the vendor measures: the answer body as sent. */
function size(answer: unknown): number {
  return Buffer.byteLength(JSON.stringify(answer), "utf8");
}

describe("okAnswer", () => {
  it('is {"status":"ok"}', () => {
    expect(JSON.stringify(okAnswer())).toBe('{"status":"ok"}');
  });
});

describe("failAnswer", () => {
  it("builds the error envelope from a refusal, leaving the status for HTTP", () => {
    expect(failAnswer({ status: 429, code: "RATE_LIMITED", message: "tenant acme is over its rate" })).toEqual({
      status: "error",
      error: "RATE_LIMITED",
      error_description: "tenant acme is over its rate",
    });
  });

  it("takes a CallbackError as it is", () => {
    const err = new AgoraCallbackError("IP_NOT_ALLOWED", "address 10.0.0.9 is not in the tenant's allowIps");
    expect(failAnswer(err)).toEqual(err.response);
  });

  it("keeps the answer under 1,000 bytes for a huge message, ending the cut with …", () => {
    const answer = failAnswer({ status: 400, code: "MALFORMED_BODY", message: "x".repeat(1_000_000) });
    expect(size(answer)).toBeLessThanOrEqual(ANSWER_MAX_BYTES);
    expect(size(answer)).toBeGreaterThan(ANSWER_MAX_BYTES - 4);
    expect(answer.error_description).toMatch(/^x+…$/);
    expect(answer.error).toBe("MALFORMED_BODY");
  });

  it("counts multi-byte characters and JSON escapes against the limit", () => {
    for (const unit of ["环信", '"', "\\", "\u0001", "😀", "\ud800"]) {
      const answer = failAnswer({ status: 400, code: "MALFORMED_BODY", message: unit.repeat(5_000) });
      expect(size(answer), JSON.stringify(unit)).toBeLessThanOrEqual(ANSWER_MAX_BYTES);
      expect(answer.error_description.endsWith("…")).toBe(true);
    }
  });

  it("never splits a surrogate pair", () => {
    const answer = failAnswer({ status: 400, code: "MALFORMED_BODY", message: "😀".repeat(1_000) });
    expect(answer.error_description).toMatch(/^(😀)+…$/u);
  });

  it("keeps a message that fits as it is", () => {
    const message = "m".repeat(900);
    expect(failAnswer({ status: 400, code: "MALFORMED_BODY", message }).error_description).toBe(message);
  });

  it("cuts a code longer than 64 characters", () => {
    const answer = failAnswer({ status: 500, code: "C".repeat(10_000), message: "m".repeat(10_000) });
    expect(answer.error).toBe("C".repeat(64));
    expect(size(answer)).toBeLessThanOrEqual(ANSWER_MAX_BYTES);
  });
});

describe("AgoraCallbackError", () => {
  it("has the status and envelope of every core code", () => {
    for (const code of Object.keys(CALLBACK_ERROR_STATUS) as CallbackErrorCode[]) {
      const err = new AgoraCallbackError(code, "why");
      expect(err.status).toBe(CALLBACK_ERROR_STATUS[code]);
      expect(err.response).toEqual({ status: "error", error: code, error_description: "why" });
      expect(err.name).toBe("AgoraCallbackError");
    }
  });

  it("keeps its response under 1,000 bytes whatever the message", () => {
    const err = new AgoraCallbackError("INTERNAL", "环".repeat(100_000));
    expect(size(err.response)).toBeLessThanOrEqual(ANSWER_MAX_BYTES);
  });
});

describe("answers to huge bad input", () => {
  const HUGE = 2_000_000;
  const inputs = [
    ["a huge non-JSON body", "x".repeat(HUGE)],
    ["a huge unknown reason", sampleWith({ reason: "r".repeat(HUGE), status: undefined })],
    ["a huge user id", sampleWith({ user: `61000000#acme_${"u".repeat(HUGE)}/ios_1` })],
    ["a huge appkey", sampleWith({ appkey: "a".repeat(HUGE) })],
    ["a huge security", sampleWith({ security: "s".repeat(HUGE) })],
    ["a huge callId", sampleWith({ callId: "c".repeat(HUGE) })],
  ] as const;

  for (const [what, body] of inputs) {
    it(`stay under 1,000 bytes for ${what}`, () => {
      for (const options of [OPTIONS, SIGNED]) {
        let answer: unknown;
        try {
          answer = handleCallback({ body }, options).response;
        } catch (err) {
          expect(err).toBeInstanceOf(AgoraCallbackError);
          answer = (err as AgoraCallbackError).response;
        }
        expect(size(answer)).toBeLessThan(1000);
      }
    });
  }

  it("refuse a huge user id without echoing it", () => {
    const err = thrown(() => handleCallback({ body: inputs[2][1] }, OPTIONS)) as AgoraCallbackError;
    expect(err.response.error_description).not.toContain("uuuu");
  });
});
