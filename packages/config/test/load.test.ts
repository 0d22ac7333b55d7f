import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, findTenant, loadConfig, parseConfig, parseDuration } from "../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "imrelay-config-"));
function file(name: string, text: string) {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const yaml = `
redis: { url: redis://127.0.0.1:6379 }
gateway: { port: 8080 }
tenants:
  acme:
    tencent:
      sdkAppId: "1400000000"
      callbackToken: \${ACME_TENCENT_TOKEN}
    openim:
      appId: acme-openim
      basicAuth: { username: openim, password: \${ACME_OPENIM_PASSWORD} }
      allowIps: ["10.0.0.0/8"]
    endpoints:
      - id: presence
        url: https://acme.example.com/hooks/presence
        secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
        events: [user.online, user.offline]
        changesOnly: false
        includeRaw: false
presence:
  openimExpiry: 30m
delivery:
  timeoutMs: 15000
  retrySchedule: [5s, 5m, 30m, 2h, 5h, 10h, 10h]
  allowPrivateNetworks: false
`;

describe("loadConfig", () => {
  it("reads the contract's example, with ${NAME} from the environment", () => {
    const path = file("ok.yaml", yaml);
    const loaded = loadConfig({ path, env: { ACME_TENCENT_TOKEN: "tok", ACME_OPENIM_PASSWORD: "pw" } });
    const acme = loaded?.config.tenants.acme;
    expect(acme?.tencent?.callbackToken).toBe("tok");
    expect(acme?.openim?.basicAuth?.password).toBe("pw");
    expect(acme?.endpoints[0]).toMatchObject({ id: "presence", changesOnly: false, includeRaw: false, enabled: true });
    expect(loaded?.config.presence.openimExpiry).toBe(30 * 60_000);
    expect(loaded?.config.delivery.retrySchedule).toEqual([5e3, 3e5, 18e5, 72e5, 18e6, 36e6, 36e6]);
  });

  it("reads JSON too, and lets REDIS_URL override redis.url", () => {
    const path = file("ok.json", JSON.stringify({ tenants: { t: { openim: { appId: "x" } } } }));
    const loaded = loadConfig({ path, env: { REDIS_URL: "redis://10.1.1.1:6380/2" } });
    expect(loaded?.config.redis.url).toBe("redis://10.1.1.1:6380/2");
    expect(loaded?.config.gateway.port).toBe(8080);
  });

  it("names the path of each bad field", () => {
    const path = file(
      "bad.yaml",
      `tenants:
  acme:
    tencent: { sdkAppId: "1" }
    endpoints:
      - { id: a, url: "ftp://x", secret: nope }
delivery: { retrySchedule: [5s, soon] }
`,
    );
    let error: ConfigError | undefined;
    try {
      loadConfig({ path, env: {} });
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error?.code).toBe("CONFIG_INVALID");
    const text = error?.problems.join("\n") ?? "";
    expect(text).toContain("tenants.acme.endpoints[0].url");
    expect(text).toContain("tenants.acme.endpoints[0].secret");
    expect(text).toContain("delivery.retrySchedule[1]");
  });

  it("says which variable is unset, without inventing a value", () => {
    const path = file("env.yaml", yaml);
    expect(() => loadConfig({ path, env: {} })).toThrow(
      /tenants\.acme\.tencent\.callbackToken: environment variable ACME_TENCENT_TOKEN/,
    );
  });

  it("returns undefined when the default file is absent, and fails when a named one is", () => {
    expect(loadConfig({ env: {}, path: undefined })).toBeUndefined();
    expect(() => loadConfig({ path: join(dir, "missing.yaml"), env: {} })).toThrow(/does not exist/);
  });

  it("validates IMRELAY_ADMIN_TOKEN like a token in the file, and reads an empty one as unset", () => {
    const tenants = { t: { openim: { appId: "x" } } };
    expect(() => parseConfig({ tenants }, "x", { IMRELAY_ADMIN_TOKEN: "short" })).toThrow(
      /admin\.token: use at least 16/,
    );
    const good = "0123456789abcdef0123";
    expect(parseConfig({ tenants }, "x", { IMRELAY_ADMIN_TOKEN: good }).admin.token).toBe(good);
    const off = parseConfig({ tenants, admin: { token: "${IMRELAY_ADMIN_TOKEN:-}" } }, "x", {});
    expect(off.admin.token).toBeUndefined();
  });

  it("finds tenants by own name only", () => {
    const config = parseConfig({ tenants: { acme: { openim: { appId: "x" } } } }, "x", {});
    expect(findTenant(config, "acme")?.openim?.appId).toBe("x");
    expect(findTenant(config, "constructor")).toBeUndefined();
    expect(findTenant(config, "__proto__")).toBeUndefined();
  });

  it("reads presence.maxClockSkew as a duration, 5 minutes unless set", () => {
    const tenants = { t: { openim: { appId: "x" } } };
    expect(parseConfig({ tenants }, "x", {}).presence.maxClockSkew).toBe(5 * 60_000);
    expect(parseConfig({ tenants, presence: { maxClockSkew: "30s" } }, "x", {}).presence.maxClockSkew).toBe(30_000);
    expect(() => parseConfig({ tenants, presence: { maxClockSkew: "soon" } }, "x", {})).toThrow(
      /presence\.maxClockSkew/,
    );
  });

  it("reads presence.offlineGrace as a duration, 0 (off) unless set", () => {
    const tenants = { t: { openim: { appId: "x" } } };
    expect(parseConfig({ tenants }, "x", {}).presence.offlineGrace).toBe(0);
    expect(parseConfig({ tenants, presence: { offlineGrace: "15s" } }, "x", {}).presence.offlineGrace).toBe(15_000);
    expect(parseConfig({ tenants, presence: { offlineGrace: "0s" } }, "x", {}).presence.offlineGrace).toBe(0);
    expect(() => parseConfig({ tenants, presence: { offlineGrace: "a while" } }, "x", {})).toThrow(
      /presence\.offlineGrace/,
    );
  });

  it("gives the gateway's HTTP limits their defaults, and takes them from the environment", () => {
    const tenants = { acme: { openim: { appId: "x" } } };
    expect(parseConfig({ tenants }, "x", {}).gateway).toMatchObject({
      requestTimeoutMs: 10_000,
      keepAliveTimeoutMs: 5_000,
      maxConnections: 10_000,
    });
    const gateway = { requestTimeoutMs: "${TIMEOUT}", headersTimeoutMs: 2000, maxConnections: "${MAX}" };
    expect(parseConfig({ tenants, gateway }, "x", { TIMEOUT: "3000", MAX: "50" }).gateway).toMatchObject({
      requestTimeoutMs: 3000,
      headersTimeoutMs: 2000,
      maxConnections: 50,
    });
  });

  it("refuses a headers timeout longer than the request timeout", () => {
    const tenants = { acme: { openim: { appId: "x" } } };
    expect(() =>
      parseConfig({ tenants, gateway: { requestTimeoutMs: 1000, headersTimeoutMs: 5000 } }, "x", {}),
    ).toThrow(/gateway\.headersTimeoutMs: must not be longer than requestTimeoutMs \(1000\)/);
  });

  it("refuses a tenant with neither provider", () => {
    expect(() => parseConfig({ tenants: { empty: {} } }, "x", {})).toThrow(/tenants\.empty/);
  });

  it("takes shutdownTimeoutMs as a number, from the environment too, and defaults it to 10000", () => {
    const tenants = { t: { openim: { appId: "x" } } };
    expect(parseConfig({ tenants }, "x", {}).shutdownTimeoutMs).toBe(10_000);
    const fromEnv = { tenants, shutdownTimeoutMs: "${STOP_MS}" };
    expect(parseConfig(fromEnv, "x", { STOP_MS: "2500" }).shutdownTimeoutMs).toBe(2500);
    expect(() => parseConfig({ tenants, shutdownTimeoutMs: 0 }, "x", {})).toThrow(/shutdownTimeoutMs/);
  });

  it("checks for dead workers' deliveries every 5 s, or every lockDuration when that is shorter", () => {
    const tenants = { t: { openim: { appId: "x" } } };
    expect(parseConfig({ tenants }, "x", {}).delivery).toMatchObject({ lockDuration: 30_000, stalledInterval: 5_000 });
    expect(parseConfig({ tenants, delivery: { lockDuration: "2s" } }, "x", {}).delivery.stalledInterval).toBe(2_000);
    const set = parseConfig({ tenants, delivery: { stalledInterval: "500ms" } }, "x", {});
    expect(set.delivery.stalledInterval).toBe(500);
    expect(() => parseConfig({ tenants, delivery: { stalledInterval: 0 } }, "x", {})).toThrow(
      /delivery\.stalledInterval: must be more than 0/,
    );
  });

  it("keeps checked delivery addresses 30 s unless dnsCacheMs says otherwise, 0 turning the cache off", () => {
    const tenants = { t: { openim: { appId: "x" } } };
    const dnsCacheMs = (value?: unknown) =>
      parseConfig({ tenants, delivery: value === undefined ? {} : { dnsCacheMs: value } }, "x", {}).delivery.dnsCacheMs;
    expect(dnsCacheMs()).toBe(30_000);
    expect(dnsCacheMs("5s")).toBe(5_000);
    expect(dnsCacheMs(250)).toBe(250);
    expect(dnsCacheMs(0)).toBe(0);
    expect(dnsCacheMs("0s")).toBe(0);
    expect(() => dnsCacheMs(-1)).toThrow(/delivery\.dnsCacheMs: "-1" is not a duration/);
    expect(() => dnsCacheMs("soon")).toThrow(/delivery\.dnsCacheMs: "soon" is not a duration/);
  });
});

describe("parseDuration", () => {
  it.each([
    ["500ms", 500],
    ["5s", 5000],
    ["30m", 1_800_000],
    ["2h", 7_200_000],
    ["1d", 86_400_000],
    [250, 250],
    ["soon", undefined],
  ])("reads %s as %s ms", (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });
});
