import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import {
  freePort,
  postTencent,
  type Relay,
  ROOT,
  startPrivateRedis,
  startRelay,
  tencentRequest,
  waitFor,
} from "../src/harness.js";

const run = promisify(execFile);
const CLI = join(ROOT, "apps/cli/bin/imrelay.js");
const dir = mkdtempSync(join(tmpdir(), "imrelay-cli-"));

async function imrelay(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
      cwd: dir,
    });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

let relay: Relay | undefined;
let redis: Awaited<ReturnType<typeof startPrivateRedis>> | undefined;
afterAll(async () => {
  await relay?.stop();
  await redis?.stop();
});

describe("imrelay check-config", () => {
  it("prints what it would run, without secrets", async () => {
    const file = join(dir, "ok.yaml");
    writeFileSync(
      file,
      `tenants:
  acme:
    tencent: { sdkAppId: "1400000000", callbackToken: \${TOKEN} }
    openim: { appId: acme-openim, basicAuth: { username: openim, password: \${PW} } }
    endpoints:
      - { id: presence, url: "https://acme.example.com/hooks/presence", secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw }
      - id: mobile
        url: https://acme.example.com/hooks/mobile
        secret: [whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD, whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw]
        filter: { platform: { $in: [ios, android] } }
`,
    );
    const res = await imrelay(["check-config"], { IMRELAY_CONFIG: file, TOKEN: "sekrit-token", PW: "sekrit-pw" });
    expect(res.code).toBe(0);
    expect(res.out).toContain("tenant acme");
    expect(res.out).toContain("/v1/tenants/acme/tencent");
    expect(res.out).toContain("endpoint presence");
    expect(res.out).toContain('2 secrets (rotating), filter {"platform":{"$in":["ios","android"]}}');
    expect(res.out).not.toContain("sekrit");
    expect(res.out).not.toContain("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    expect(res.out).not.toContain("C2FVsBQIhrscChlQIMV");
  });

  it("accepts the repository's example config", async () => {
    const res = await imrelay(["check-config"], {
      IMRELAY_CONFIG: join(ROOT, "imrelay.config.example.yaml"),
      ACME_TENCENT_TOKEN: "t0ken-from-env",
      ACME_OPENIM_PASSWORD: "pw-from-env",
      ACME_PRESENCE_SECRET: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
      ACME_AUDIT_SECRET: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    });
    expect(res.code).toBe(0);
    expect(res.out).toContain("endpoint presence");
    expect(res.out).toContain("endpoint audit");
    expect(res.out).not.toContain("t0ken-from-env");
  });

  it("exits 1 naming the path of each bad field", async () => {
    const file = join(dir, "bad.yaml");
    writeFileSync(
      file,
      `tenants:\n  acme:\n    tencent: { sdkAppId: "1" }\n    endpoints: [{ id: a, url: "not a url", secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw }]\ngateway: { port: "eighty" }\n`,
    );
    const res = await imrelay(["check-config"], { IMRELAY_CONFIG: file });
    expect(res.code).toBe(1);
    expect(res.out).toContain("tenants.acme.endpoints[0].url");
    expect(res.out).toContain("gateway.port");
  });

  it("exits 1 listing every problem at once: unset variables and the schema's errors", async () => {
    const file = join(dir, "many-bad.yaml");
    writeFileSync(
      file,
      `tenants:
  acme:
    tencent: { sdkAppId: "1", callbackToken: \${ACME_TENCENT_TOKEN} }
    endpoints: [{ id: a, url: "not a url", secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw }]
delivery: { allowPrivateNetworks: \${ALLOW_PRIVATE}, concurrency: 0 }
`,
    );
    const res = await imrelay(["check-config"], { IMRELAY_CONFIG: file, ALLOW_PRIVATE: "maybe" });
    expect(res.code).toBe(1);
    const lines = res.out.split("\n").filter((line) => line.startsWith("  - "));
    expect(lines).toEqual([
      "  - tenants.acme.tencent.callbackToken: environment variable ACME_TENCENT_TOKEN is not set",
      "  - tenants.acme.endpoints[0].url: must be an http(s) URL",
      '  - delivery.allowPrivateNetworks: ${ALLOW_PRIVATE} must be "true" or "false"',
      "  - delivery.concurrency: Too small: expected number to be >0",
    ]);
  });

  it("takes booleans and numbers from the environment", async () => {
    const file = join(dir, "typed.yaml");
    writeFileSync(
      file,
      `tenants: { acme: { openim: { appId: acme } } }
gateway: { port: \${PORT} }
delivery: { allowPrivateNetworks: \${ALLOW_PRIVATE}, concurrency: \${CONC:-20} }
`,
    );
    const res = await imrelay(["check-config"], { IMRELAY_CONFIG: file, PORT: "9191", ALLOW_PRIVATE: "true" });
    expect(res.out).toContain(":9191");
    expect(res.out).toContain("concurrency 20, private networks allowed");
    expect(res.code).toBe(0);
  });

  it("refuses an unknown command, naming it, with the usage", async () => {
    const res = await imrelay(["launch"]);
    expect(res.code).toBe(2);
    expect(res.out).toContain('imrelay: unknown command "launch"');
    expect(res.out).toContain("Usage: imrelay");
  });
});

describe("imrelay --version and --help", () => {
  it("prints the package's version", async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, "apps/gateway/package.json"), "utf8")) as {
      version: string;
    };
    for (const flag of ["--version", "-v"]) {
      const res = await imrelay([flag]);
      expect(res).toEqual({ code: 0, out: `${version}\n` });
    }
  });

  it("prints the usage, with every command and option, and exits 0", async () => {
    for (const args of [["--help"], ["-h"], ["start", "--help"]]) {
      const res = await imrelay(args);
      expect(res.code).toBe(0);
      expect(res.out).toContain("Usage: imrelay <command> [options]");
      for (const word of ["start", "gateway", "worker", "check-config", "--config", "--port", "--help", "--version"]) {
        expect(res.out).toContain(word);
      }
    }
  });

  it.each([
    [["start", "--prot", "8080"], "unknown option --prot"],
    [["start", "-x"], "unknown option -x"],
    [["start", "--port"], "option --port needs a value"],
    [["start", "--port", "http"], '--port must be a port number (0-65535), not "http"'],
    [["--help=yes"], "option --help takes no value"],
    [["start", "now"], 'unexpected argument "now"'],
    [[], "no command given"],
  ])("refuses %j naming what is wrong, with the usage and exit code 2", async (args, message) => {
    const res = await imrelay(args);
    expect(res.code).toBe(2);
    expect(res.out.split("\n")[0]).toBe(`imrelay: ${message}`);
    expect(res.out).toContain("Usage: imrelay");
    expect(res.out).not.toMatch(/TypeError|ERR_PARSE_ARGS|\n\s+at /);
  });
});

describe("imrelay start with no config file", () => {
  it("runs the demo tenant, whose built-in sink logs the event it received", async () => {
    redis = await startPrivateRedis();
    relay = await startRelay({ env: { REDIS_URL: redis.url }, port: await freePort() });
    const res = await postTencent(relay.url, "demo", tencentRequest({ user: "testuser316" }));
    expect(res.status).toBe(200);
    const line = await waitFor(
      () => relay!.json().find((l) => typeof l.msg === "string" && l.msg.includes("demo sink received user.online")),
      15_000,
      "the demo sink's log line",
    );
    expect(line.userId).toBe("testuser316");
  });
});
