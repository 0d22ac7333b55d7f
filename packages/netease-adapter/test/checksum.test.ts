import { describe, expect, it } from "vitest";
import { neteaseCheckSum, neteaseMd5 } from "../src/index.js";
import { fixture, VECTOR } from "./helpers.js";

describe("neteaseMd5", () => {
  it("is the MD5 of the test vector's exact body bytes", () => {
    const body = fixture("login-signed-vector.txt");
    expect(neteaseMd5(body)).toBe(VECTOR.md5);
    expect(neteaseMd5(new TextEncoder().encode(body))).toBe(VECTOR.md5);
  });

  it("is the MD5 the console's URL probe sends for {}", () => {
    expect(neteaseMd5(fixture("url-probe.txt"))).toBe(VECTOR.probeMd5);
  });

  it("hashes the bytes, not the JSON they encode", () => {
    const reformatted = JSON.stringify(JSON.parse(fixture("login-signed-vector.txt")), null, 1);
    expect(neteaseMd5(reformatted)).not.toBe(VECTOR.md5);
  });
});

describe("neteaseCheckSum", () => {
  it("matches the test vector: sha1(AppSecret + MD5 + CurTime)", () => {
    expect(neteaseCheckSum(VECTOR.appSecret, VECTOR.md5, VECTOR.curTime)).toBe(VECTOR.checkSum);
    expect(neteaseCheckSum(VECTOR.appSecret, VECTOR.md5, Number(VECTOR.curTime))).toBe(VECTOR.checkSum);
  });

  it("matches the probe's test vector", () => {
    expect(neteaseCheckSum(VECTOR.appSecret, VECTOR.probeMd5, VECTOR.curTime)).toBe(VECTOR.probeCheckSum);
  });
});
