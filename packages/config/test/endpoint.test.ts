import { describe, expect, it } from "vitest";
import { ConfigError, compileFilter, filterMatcher, parseConfig } from "../src/index.js";

const NEW = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OLD = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

function endpointConfig(endpoint: Record<string, unknown>) {
  return parseConfig(
    {
      tenants: {
        acme: {
          tencent: { sdkAppId: "1400000000" },
          endpoints: [{ id: "presence", url: "https://acme.example.com/hooks", secret: NEW, ...endpoint }],
        },
      },
    },
    "test config",
    {},
  ).tenants.acme!.endpoints[0]!;
}

/** The problem lines of the ConfigError a config with this endpoint gives. */
function problems(endpoint: Record<string, unknown>): string[] {
  try {
    endpointConfig(endpoint);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error("the config was accepted");
}

describe("endpoints[].secret", () => {
  it("takes one secret, or a list of them while rotating", () => {
    expect(endpointConfig({}).secret).toBe(NEW);
    expect(endpointConfig({ secret: [NEW, OLD] }).secret).toEqual([NEW, OLD]);
  });

  it("refuses a secret whose base64 a receiver could not decode", () => {
    expect(problems({ secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwA" })).toEqual([
      "tenants.acme.endpoints[0].secret: must be a Standard Webhooks secret: whsec_ followed by base64",
    ]);
    expect(problems({ secret: "whsec_MfKQ9r8GKYqrTwjUPD8=ILPZIo2LaLaSw" })).toHaveLength(1);
  });

  it("names the bad entry of a list", () => {
    expect(problems({ secret: [NEW, "nope"] })).toEqual([
      "tenants.acme.endpoints[0].secret[1]: must be a Standard Webhooks secret: whsec_ followed by base64",
    ]);
  });

  it("refuses an empty list, more than three secrets, or one listed twice", () => {
    expect(problems({ secret: [] })).toEqual(["tenants.acme.endpoints[0].secret: list at least one secret"]);
    const four = [NEW, OLD, "whsec_dGhpcyBpcyBhIHRoaXJkIHNlY3JldA==", "whsec_YW5kIHRoaXMgaXMgYSBmb3VydGg="];
    expect(problems({ secret: four })[0]).toMatch(/secret: list at most 3 secrets/);
    expect(problems({ secret: [NEW, NEW] })).toEqual([
      "tenants.acme.endpoints[0].secret: the same secret is listed twice",
    ]);
  });

  it("says what a secret may be when it is neither a string nor a list", () => {
    expect(problems({ secret: 42 })).toEqual([
      "tenants.acme.endpoints[0].secret: must be a whsec_ secret, or a list of them ([new, old]) while rotating",
    ]);
  });
});

describe("endpoints[].filter", () => {
  it("is optional, and kept as written", () => {
    expect(endpointConfig({}).filter).toBeUndefined();
    const filter = { platform: { $in: ["ios", "android"] }, provider: "tencent" };
    expect(endpointConfig({ filter }).filter).toEqual(filter);
  });

  it("names the path and the operator of an unknown operator", () => {
    const [line, ...rest] = problems({ filter: { platform: { $inn: ["ios"] }, provider: "tencent" } });
    expect(rest).toEqual([]);
    expect(line).toMatch(/^tenants\.acme\.endpoints\[0\]\.filter\.platform\.\$inn: unknown operator "\$inn" \(known: /);
    expect(line).toContain("$in, $nin");
  });

  it("finds unknown operators inside $or, $not and $elemMatch, every one at once", () => {
    const lines = problems({
      filter: {
        $or: [{ platform: "ios" }, { platform: { $regexp: "^and" } }],
        reason: { $not: { $equals: "kicked" } },
        "presence.platforms": { $elemMatch: { provider: { $is: "tencent" } } },
      },
    });
    expect(lines.map((line) => line.slice(0, line.indexOf(":")))).toEqual([
      "tenants.acme.endpoints[0].filter.$or[1].platform.$regexp",
      "tenants.acme.endpoints[0].filter.reason.$not.$equals",
      "tenants.acme.endpoints[0].filter.presence.platforms.$elemMatch.provider.$is",
    ]);
  });

  it("refuses $where: a filter is data, not code", () => {
    expect(problems({ filter: { $where: "this.platform === 'ios'" } })[0]).toMatch(
      /filter\.\$where: unknown operator "\$where"/,
    );
  });

  it("says which operand is wrong", () => {
    expect(problems({ filter: { platform: { $in: "ios" } } })).toEqual([
      "tenants.acme.endpoints[0].filter.platform.$in: $in takes a list",
    ]);
    expect(problems({ filter: { platform: { $type: "date" } } })[0]).toMatch(
      /filter\.platform\.\$type: \$type takes one of string, number, bool, array, null/,
    );
  });

  it("refuses a regular expression that does not compile, and a filter that is not a mapping", () => {
    expect(problems({ filter: { userId: { $regex: "(" } } })[0]).toMatch(
      /^tenants\.acme\.endpoints\[0\]\.filter: is not a valid filter: Invalid regular expression/,
    );
    expect(problems({ filter: ["ios"] })[0]).toMatch(/^tenants\.acme\.endpoints\[0\]\.filter: /);
  });
});

describe("compileFilter", () => {
  const event = {
    type: "user.online",
    provider: "tencent",
    platform: "ios",
    reason: "login",
    kickedPlatforms: ["windows"],
    changed: true,
    presence: { online: true, platforms: [{ provider: "tencent", platform: "ios", device: null }] },
  };

  it("matches the event's fields, nested paths and arrays as MongoDB does", () => {
    expect(compileFilter({ platform: { $in: ["ios", "android"] }, provider: "tencent" })(event)).toBe(true);
    expect(compileFilter({ platform: { $in: ["web"] } })(event)).toBe(false);
    expect(compileFilter({ provider: "openim" })(event)).toBe(false);
    expect(compileFilter({ "presence.online": true })(event)).toBe(true);
    expect(compileFilter({ "presence.platforms.provider": "tencent" })(event)).toBe(true);
    expect(compileFilter({ kickedPlatforms: "windows" })(event)).toBe(true);
    expect(compileFilter({ $or: [{ reason: "kicked" }, { changed: true }] })(event)).toBe(true);
    expect(compileFilter({ reason: { $not: { $in: ["login", "logout"] } } })(event)).toBe(false);
    expect(compileFilter({ userId: { $exists: true } })(event)).toBe(false);
  });

  it("is compiled once per loaded config, not per event", () => {
    const filter = endpointConfig({ filter: { platform: "ios" } }).filter!;
    expect(filterMatcher(filter)).toBe(filterMatcher(filter));
    const reloaded = endpointConfig({ filter: { platform: "ios" } }).filter!;
    expect(filterMatcher(reloaded)).not.toBe(filterMatcher(filter));
  });
});

describe("endpoints[].rateLimit", () => {
  it("is off unless set, and takes a rate per second", () => {
    expect(endpointConfig({}).rateLimit).toBeUndefined();
    expect(endpointConfig({ rateLimit: { perSecond: 100 } }).rateLimit).toEqual({ perSecond: 100 });
    expect(endpointConfig({ rateLimit: { perSecond: 0.5 } }).rateLimit).toEqual({ perSecond: 0.5 });
  });

  it("refuses a rate that is not positive, above the limiter's ceiling, or an unknown field", () => {
    expect(problems({ rateLimit: { perSecond: 0 } })[0]).toMatch(
      /^tenants\.acme\.endpoints\[0\]\.rateLimit\.perSecond: /,
    );
    expect(problems({ rateLimit: { perSecond: 100_001 } })).toEqual([
      "tenants.acme.endpoints[0].rateLimit.perSecond: at most 100000",
    ]);
    expect(problems({ rateLimit: { perSecond: 10, burst: 20 } })[0]).toMatch(/rateLimit/);
  });
});
