import { describe, expect, it } from "vitest";
import { clientIpOf } from "../src/index.js";
import { accept, sampleWith } from "./helpers.js";

const FORMS = [
  ["IPv4 with a port", "223.71.97.198:52709", "223.71.97.198"],
  ["IPv4 without a port", "223.71.97.198", "223.71.97.198"],
  ["bracketed IPv6 with a port", "[::1]:5000", "::1"],
  ["bracketed IPv6 with a port, full form", "[2408:8207:1851:5ba0::1]:443", "2408:8207:1851:5ba0::1"],
  ["bracketed IPv6 without a port", "[2408:8207::1]", "2408:8207::1"],
  ["bare IPv6", "2408:8207:1851:5ba0::1", "2408:8207:1851:5ba0::1"],
  ["bare loopback IPv6", "::1", "::1"],
  ["IPv4-mapped IPv6", "::ffff:223.71.97.198", "::ffff:223.71.97.198"],
  ["surrounding whitespace", " 10.0.0.1:80 ", "10.0.0.1"],
] as const;

const NOT_IPS = [
  ["empty", ""],
  ["a host name", "msync@ebs-ali-beijing-msync40"],
  ["a name with a port", "example.com:80"],
  ["an unclosed bracket", "[::1:5000"],
  ["a number", 3232235777],
  ["null", null],
] as const;

describe("clientIp from ip", () => {
  for (const [form, ip, clientIp] of FORMS) {
    it(`reads ${form}: ${ip}`, () => {
      expect(clientIpOf(ip)).toBe(clientIp);
      expect(accept(sampleWith({ ip })).events[0]?.clientIp).toBe(clientIp);
    });
  }

  it("is null when ip is absent", () => {
    expect(accept(sampleWith({ ip: undefined })).events[0]?.clientIp).toBeNull();
  });

  for (const [what, ip] of NOT_IPS) {
    it(`is null when ip is ${what}`, () => {
      expect(clientIpOf(ip)).toBeNull();
      expect(accept(sampleWith({ ip })).events[0]?.clientIp).toBeNull();
    });
  }
});
