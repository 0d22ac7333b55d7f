import { describe, expect, it } from "vitest";
import { handleCallback, NeteaseCallbackError, neteaseCheckSum, neteaseMd5, verifyAppKey } from "../src/index.js";
import { APP_KEY, accept, fixture, NOW, OPTIONS, thrown, VECTOR } from "./helpers.js";

const BODY = fixture("login-signed-vector.txt");
const SIGNED = { ...OPTIONS, appSecret: VECTOR.appSecret };

/** The vector's headers, named as NetEase's page names them. */
function vectorHeaders(overrides: Record<string, string | undefined> = {}): Record<string, unknown> {
  return { CurTime: VECTOR.curTime, MD5: VECTOR.md5, CheckSum: VECTOR.checkSum, ...overrides };
}

function refusal(body: string | Uint8Array, headers: Record<string, unknown>, options = SIGNED) {
  const err = thrown(() => accept({ body, headers }, options));
  expect(err).toBeInstanceOf(NeteaseCallbackError);
  const error = err as NeteaseCallbackError;
  expect(error.response).toEqual({ code: error.status, desc: error.message });
  // Neither the secret nor a digest may reach NetEase's logs or ours.
  expect(error.message).not.toContain(VECTOR.appSecret);
  expect(error.message).not.toContain(VECTOR.checkSum.slice(0, 12));
  expect(error.message).not.toContain(VECTOR.md5.slice(0, 12));
  return error;
}

describe("handleCallback with appSecret", () => {
  it("accepts the test vector", () => {
    const out = accept({ body: BODY, headers: vectorHeaders() }, SIGNED);
    expect(out.events).toHaveLength(1);
    expect(out.events[0]).toMatchObject({ type: "user.online", userId: "t3" });
  });

  it("accepts the test vector as bytes", () => {
    const out = accept({ body: new TextEncoder().encode(BODY), headers: vectorHeaders() }, SIGNED);
    expect(out.events).toHaveLength(1);
  });

  it("accepts the console's URL probe with its test vector, as unrecognized", () => {
    const headers = vectorHeaders({ MD5: VECTOR.probeMd5, CheckSum: VECTOR.probeCheckSum, AppKey: APP_KEY });
    const out = accept({ body: fixture("url-probe.txt"), headers }, SIGNED);
    expect(out).toEqual({ events: [], unrecognized: true, unrecognizedReason: "url probe", response: { code: 200 } });
  });

  it("reads header names in any case (Node gives them lower-cased)", () => {
    const lower = { curtime: VECTOR.curTime, md5: VECTOR.md5, checksum: VECTOR.checkSum };
    expect(accept({ body: BODY, headers: lower }, SIGNED).events).toHaveLength(1);
    const shouting = { CURTIME: VECTOR.curTime, Md5: VECTOR.md5, CHECKSUM: VECTOR.checkSum };
    expect(accept({ body: BODY, headers: shouting }, SIGNED).events).toHaveLength(1);
  });

  it("accepts upper-case hex in MD5 and CheckSum", () => {
    // CheckSum is computed over MD5 as sent, so an upper-case MD5 is signed upper-case.
    const md5 = VECTOR.md5.toUpperCase();
    const checkSum = neteaseCheckSum(VECTOR.appSecret, md5, VECTOR.curTime).toUpperCase();
    expect(
      accept({ body: BODY, headers: vectorHeaders({ MD5: md5, CheckSum: checkSum }) }, SIGNED).events,
    ).toHaveLength(1);
  });

  it("never rejects on the age of CurTime", () => {
    const yearsLater = { ...SIGNED, now: NOW + 5 * 365 * 86_400_000 };
    expect(accept({ body: BODY, headers: vectorHeaders() }, yearsLater).events).toHaveLength(1);
    const curTime = "1";
    const headers = vectorHeaders({
      CurTime: curTime,
      CheckSum: neteaseCheckSum(VECTOR.appSecret, VECTOR.md5, curTime),
    });
    expect(accept({ body: BODY, headers }, SIGNED).events).toHaveLength(1);
  });

  it("takes the first value of a repeated header", () => {
    const headers = vectorHeaders({ CheckSum: undefined });
    headers["CheckSum"] = [VECTOR.checkSum, "0000"];
    expect(accept({ body: BODY, headers }, SIGNED).events).toHaveLength(1);
  });

  it.each(["MD5", "CheckSum", "CurTime"])("answers 401 SIGNATURE_MISSING when %s is missing", (name) => {
    const error = refusal(BODY, vectorHeaders({ [name]: undefined }));
    expect(error).toMatchObject({ code: "SIGNATURE_MISSING", status: 401 });
    expect(error.message).toBe("MD5, CheckSum and CurTime headers are required");
  });

  it.each(["MD5", "CheckSum", "CurTime"])("answers 401 SIGNATURE_MISSING when %s is empty", (name) => {
    expect(refusal(BODY, vectorHeaders({ [name]: "" }))).toMatchObject({ code: "SIGNATURE_MISSING" });
  });

  it("answers 401 SIGNATURE_MISSING when no headers are given at all", () => {
    expect(refusal(BODY, {})).toMatchObject({ code: "SIGNATURE_MISSING", status: 401 });
    const err = thrown(() => handleCallback({ body: BODY }, SIGNED));
    expect(err).toMatchObject({ code: "SIGNATURE_MISSING" });
  });

  it("answers 401 SIGNATURE_MISMATCH when CheckSum is made with another secret", () => {
    const checkSum = neteaseCheckSum("another-secret", VECTOR.md5, VECTOR.curTime);
    const error = refusal(BODY, vectorHeaders({ CheckSum: checkSum }));
    expect(error).toMatchObject({ code: "SIGNATURE_MISMATCH", status: 401, message: "CheckSum does not match" });
  });

  it("answers 401 SIGNATURE_MISMATCH when CurTime is not the one CheckSum was made with", () => {
    const error = refusal(BODY, vectorHeaders({ CurTime: "1608877682501" }));
    expect(error).toMatchObject({ code: "SIGNATURE_MISMATCH", message: "CheckSum does not match" });
  });

  it("answers 401 SIGNATURE_MISMATCH for a CheckSum of another length", () => {
    expect(refusal(BODY, vectorHeaders({ CheckSum: VECTOR.checkSum.slice(0, 20) }))).toMatchObject({
      code: "SIGNATURE_MISMATCH",
    });
    expect(refusal(BODY, vectorHeaders({ CheckSum: `${VECTOR.checkSum}00` }))).toMatchObject({
      code: "SIGNATURE_MISMATCH",
    });
  });

  it("answers 401 SIGNATURE_MISMATCH when the body is not the one MD5 covers, even with a valid CheckSum", () => {
    const tampered = BODY.replace('"accid":"t3"', '"accid":"t4"');
    const error = refusal(tampered, vectorHeaders());
    expect(error).toMatchObject({ code: "SIGNATURE_MISMATCH", message: "MD5 is not the MD5 of the body" });
  });

  it("answers 401 when the body was re-serialized (MD5 covers the raw bytes)", () => {
    const reencoded = JSON.stringify(JSON.parse(BODY), null, 2);
    expect(refusal(reencoded, vectorHeaders())).toMatchObject({ code: "SIGNATURE_MISMATCH" });
  });

  it("authenticates before it parses: a bad body without a checksum is 401, not 400", () => {
    expect(refusal("not json", {})).toMatchObject({ code: "SIGNATURE_MISSING" });
    const md5 = neteaseMd5("not json");
    const headers = { CurTime: "1", MD5: md5, CheckSum: neteaseCheckSum("wrong", md5, "1") };
    expect(refusal("not json", headers)).toMatchObject({ code: "SIGNATURE_MISMATCH" });
  });

  it("throws a TypeError for an empty appSecret: anyone could sign for it", () => {
    const md5 = neteaseMd5(BODY);
    const headers = { CurTime: "1", MD5: md5, CheckSum: neteaseCheckSum("", md5, "1") };
    expect(() => handleCallback({ body: BODY, headers }, { ...OPTIONS, appSecret: "" })).toThrow(TypeError);
  });
});

describe("handleCallback without appSecret", () => {
  it("ignores MD5, CheckSum and CurTime, even wrong ones", () => {
    const headers = { CurTime: "x", MD5: "0", CheckSum: "0" };
    expect(accept({ body: BODY, headers }).events).toHaveLength(1);
    expect(accept({ body: BODY }).events).toHaveLength(1);
  });
});

describe("the AppKey header", () => {
  it("is accepted when it is the tenant's AppKey, in any header case", () => {
    expect(accept({ body: BODY, headers: { AppKey: APP_KEY } }).events).toHaveLength(1);
    expect(accept({ body: BODY, headers: { appkey: APP_KEY } }).events).toHaveLength(1);
  });

  it("may be absent (NetEase's login/logout examples omit it)", () => {
    expect(accept({ body: BODY, headers: {} }).events).toHaveLength(1);
    expect(accept({ body: BODY, headers: { AppKey: "" } }).events).toHaveLength(1);
  });

  it("answers 403 APP_ID_MISMATCH when it is another app's", () => {
    const error = thrown(() => accept({ body: BODY, headers: { appkey: "ffffffffffffffffffffffffffffffff" } }));
    expect(error).toBeInstanceOf(NeteaseCallbackError);
    expect(error).toMatchObject({
      code: "APP_ID_MISMATCH",
      status: 403,
      response: { code: 403, desc: "AppKey is not this tenant's AppKey" },
    });
  });

  it("answers 403 for another app's signed probe, after the checksum passed", () => {
    const headers = vectorHeaders({ MD5: VECTOR.probeMd5, CheckSum: VECTOR.probeCheckSum, AppKey: "someone-else" });
    expect(thrown(() => accept({ body: "{}", headers }, SIGNED))).toMatchObject({ code: "APP_ID_MISMATCH" });
  });

  it("is checked by verifyAppKey alone too", () => {
    expect(() => verifyAppKey({ AppKey: APP_KEY }, APP_KEY)).not.toThrow();
    expect(() => verifyAppKey(undefined, APP_KEY)).not.toThrow();
    expect(() => verifyAppKey({ AppKey: APP_KEY.toUpperCase() }, APP_KEY)).toThrow(NeteaseCallbackError);
  });
});
