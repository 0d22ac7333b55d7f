import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROVIDER_NAMES } from "@imrelay/vendors";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseConfig } from "../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "imrelay-config-env-"));
function file(name: string, text: string) {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** The ConfigError a load throws (the test fails when there is none). */
function problemsOf(load: () => unknown): ConfigError {
  try {
    load();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

const tenants = { t: { openim: { appId: "x" } } };

describe("every problem at once", () => {
  it("lists unset variables together with the schema's errors", () => {
    const path = file(
      "mixed.yaml",
      `tenants:
  acme:
    tencent:
      sdkAppId: "1400000000"
      callbackToken: \${ACME_TENCENT_TOKEN}
    openim: { appId: acme, basicAuth: { username: openim, password: \${ACME_OPENIM_PASSWORD} } }
    endpoints:
      - { id: a, url: "ftp://x", secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw }
delivery: { concurrency: 0 }
`,
    );
    const error = problemsOf(() => loadConfig({ path, env: {} }));
    expect(error.code).toBe("CONFIG_INVALID");
    expect(error.problems).toEqual([
      "tenants.acme.tencent.callbackToken: environment variable ACME_TENCENT_TOKEN is not set",
      "tenants.acme.openim.basicAuth.password: environment variable ACME_OPENIM_PASSWORD is not set",
      "tenants.acme.endpoints[0].url: must be an http(s) URL",
      "delivery.concurrency: Too small: expected number to be >0",
    ]);
    expect(error.message).toContain("  - tenants.acme.endpoints[0].url: must be an http(s) URL");
  });

  it("reports a tenant's own rules alongside its fields' errors", () => {
    const error = problemsOf(() =>
      parseConfig(
        {
          tenants: {
            acme: {
              endpoints: [
                { id: "a", url: "ftp://x", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", includeRaw: "yes" },
                { id: "a", url: "https://x.example", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" },
              ],
            },
          },
        },
        "x",
        {},
      ),
    );
    expect(error.problems).toEqual([
      "tenants.acme.endpoints[0].url: must be an http(s) URL",
      "tenants.acme.endpoints[0].includeRaw: Invalid input: expected boolean, received string",
      `tenants.acme: a tenant needs a section for one of: ${PROVIDER_NAMES.join(", ")}`,
      'tenants.acme.endpoints[1].id: duplicate endpoint id "a"',
    ]);
  });

  it("does not ask for a variable under a field an environment override replaces", () => {
    const config = parseConfig({ tenants, redis: { url: "${MY_REDIS}" }, admin: { token: "${MY_ADMIN}" } }, "x", {
      REDIS_URL: "redis://10.1.1.1:6380/2",
      IMRELAY_ADMIN_TOKEN: "0123456789abcdef0123",
    });
    expect(config.redis.url).toBe("redis://10.1.1.1:6380/2");
    expect(config.admin.token).toBe("0123456789abcdef0123");
  });

  it("still checks the values REDIS_URL and IMRELAY_ADMIN_TOKEN give, with the file's other errors", () => {
    const error = problemsOf(() =>
      parseConfig({ tenants, delivery: { timeoutMs: -1 } }, "x", {
        REDIS_URL: "http://x",
        IMRELAY_ADMIN_TOKEN: "short",
      }),
    );
    expect(error.problems).toEqual([
      "redis.url: must be a redis:// or rediss:// URL",
      "admin.token: use at least 16 characters",
      "delivery.timeoutMs: Too small: expected number to be >0",
    ]);
  });
});

describe("YAML syntax errors", () => {
  it("quote the user's ${NAME}, with the caret under the right column", () => {
    const line = "  acme: { openim: { appId: ${APP_ID}, password: ${PW:-x} } } }";
    const path = file("syntax.yaml", `tenants:\n${line}\n`);
    const error = problemsOf(() => loadConfig({ path, env: { APP_ID: "x" } }));
    expect(error.message).toContain("is not valid YAML or JSON");
    expect(error.message).toContain(`at line 2, column ${line.length}`);
    const quoted = error.message.split("\n");
    const at = quoted.indexOf(line);
    expect(at).toBeGreaterThan(0);
    expect(quoted[at + 1]).toBe(`${" ".repeat(line.length - 1)}^`);
    expect(error.message).not.toMatch(/__imrelay|[\uE000-\uF8FF]/);
  });
});

describe("booleans and numbers from the environment", () => {
  const yaml = `tenants:
  acme:
    openim: { appId: acme }
    rateLimit: { perSecond: \${RATE}, burst: "\${BURST:-40}" }
    endpoints:
      - { id: a, url: "https://x.example", secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, changesOnly: \${CHANGES_ONLY} }
gateway: { port: \${PORT}, trustProxy: \${TRUST_PROXY} }
delivery:
  allowPrivateNetworks: \${ALLOW_PRIVATE}
  concurrency: \${CONC}
  timeoutMs: \${TIMEOUT_MS:-2500}
`;

  it('reads "true"/"false" and numbers where the schema expects them', () => {
    const path = file("typed.yaml", yaml);
    const env = {
      RATE: "12.5",
      CHANGES_ONLY: "true",
      PORT: "9090",
      TRUST_PROXY: "1",
      ALLOW_PRIVATE: "true",
      CONC: "20",
    };
    const config = loadConfig({ path, env })!.config;
    expect(config.delivery.allowPrivateNetworks).toBe(true);
    expect(config.delivery.concurrency).toBe(20);
    expect(config.delivery.timeoutMs).toBe(2500);
    expect(config.gateway.port).toBe(9090);
    expect(config.gateway.trustProxy).toBe(1);
    expect(config.tenants.acme?.rateLimit).toEqual({ perSecond: 12.5, burst: 40 });
    expect(config.tenants.acme?.endpoints[0]?.changesOnly).toBe(true);

    const off = loadConfig({ path, env: { ...env, ALLOW_PRIVATE: "false", TRUST_PROXY: "false" } })!.config;
    expect(off.delivery.allowPrivateNetworks).toBe(false);
    expect(off.gateway.trustProxy).toBe(false);
  });

  it("keeps string fields as written, even when the value looks like a number or boolean", () => {
    const config = parseConfig(
      {
        tenants: {
          acme: { tencent: { sdkAppId: "${APP}", callbackToken: "${TOKEN}" }, openim: { appId: "${OPENIM_APP}" } },
        },
      },
      "x",
      { APP: "1400000000", TOKEN: "12345", OPENIM_APP: "true" },
    );
    expect(config.tenants.acme?.tencent).toMatchObject({ sdkAppId: "1400000000", callbackToken: "12345" });
    expect(config.tenants.acme?.openim?.appId).toBe("true");
  });

  it("names the field, not the value, when the environment's text is neither", () => {
    const path = file("typed-bad.yaml", yaml);
    const env = { RATE: "fast", CHANGES_ONLY: "yes", PORT: "0x50", TRUST_PROXY: "1", ALLOW_PRIVATE: "1", CONC: "" };
    const error = problemsOf(() => loadConfig({ path, env }));
    expect(error.problems).toEqual([
      "delivery.concurrency: environment variable CONC is not set",
      "gateway.port: ${PORT} must be a number",
      "tenants.acme.rateLimit.perSecond: ${RATE} must be a number",
      'tenants.acme.endpoints[0].changesOnly: ${CHANGES_ONLY} must be "true" or "false"',
      'delivery.allowPrivateNetworks: ${ALLOW_PRIVATE} must be "true" or "false"',
    ]);
    expect(error.message).not.toContain("fast");
  });

  it("refuses a quoted number or boolean written in the file itself", () => {
    const error = problemsOf(() =>
      parseConfig({ tenants, gateway: { port: "8080" }, delivery: { allowPrivateNetworks: "true" } }, "x", {}),
    );
    expect(error.problems).toEqual([
      "gateway.port: Invalid input: expected number, received string",
      "delivery.allowPrivateNetworks: Invalid input: expected boolean, received string",
    ]);
  });
});
