import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, type Relay, ROOT, startPrivateRedis, startRelay, waitFor } from "../src/harness.js";

/**
 * The CLI as someone without a clone gets it: the documented pack script
 * makes one tarball, `npm install -g` puts `imrelay` into an empty prefix,
 * and that installed command runs the README's demo.
 */
const scratch = mkdtempSync(join(tmpdir(), "imrelay-cli-pack-"));
const prefix = join(scratch, "prefix");
const bin = join(prefix, "bin", "imrelay");
let tarball = "";

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
  return execFileSync(cmd, args, { cwd, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 180_000 });
}

/** Runs the installed bin as a shell would: its shebang finds node on the PATH. */
function imrelay(args: string[], env: Record<string, string> = {}) {
  const { IMRELAY_CONFIG: _ignored, ...inherited } = process.env;
  const path = `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ""}`;
  return run(bin, args, scratch, { ...inherited, PATH: path, ...env });
}

const manifest = (dir: string) => JSON.parse(readFileSync(join(ROOT, dir, "package.json"), "utf8"));

/** The README's demo curl: its URL, header and body, and the webhook id its log example shows. */
function readmeDemo() {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const curl =
    /curl -s -X POST '(http:\/\/127\.0\.0\.1:8080\/v1\/tenants\/demo\/tencent\?[^']+)' \\\n\s+-H '([^:]+): ([^']+)' \\\n\s+-d '([^']+)'/.exec(
      readme,
    );
  const webhookId = /webhookId: "(evt_\w+)"/.exec(readme)?.[1];
  if (!curl || !webhookId) throw new Error("README.md no longer has the Tencent demo curl and its log example");
  const [, url, header, value, body] = curl as unknown as [string, string, string, string, string];
  return { url, headers: { [header]: value }, body, webhookId };
}

beforeAll(() => {
  run("pnpm", ["--filter", "@imrelay/cli", "pack:tarball", "--pack-destination", scratch], ROOT);
  const packed = readdirSync(scratch).filter((f) => f.endsWith(".tgz"));
  expect(packed).toEqual([`imrelay-cli-${manifest("apps/cli").version}.tgz`]);
  tarball = join(scratch, packed[0]!);
  run(
    "npm",
    [
      "install",
      "--global",
      "--prefix",
      prefix,
      "--no-audit",
      "--no-fund",
      "--prefer-offline",
      "--loglevel=error",
      tarball,
    ],
    scratch,
  );
}, 240_000);

let relay: Relay | undefined;
let redis: Awaited<ReturnType<typeof startPrivateRedis>> | undefined;
afterAll(async () => {
  await relay?.stop("SIGKILL");
  await redis?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

describe("the packed CLI", () => {
  it("is one tarball of the bundle, the bin, the Lua scripts, README and LICENSE", () => {
    const listing = run("tar", ["-tzf", tarball], scratch).trim().split("\n").sort();
    expect(listing).toEqual([
      "package/LICENSE",
      "package/README.md",
      "package/bin/imrelay.js",
      "package/dist/cli.js",
      "package/lua/entries.lua",
      "package/lua/ingest.lua",
      "package/lua/rate-limit.lua",
      "package/lua/release-held.lua",
      "package/lua/renew.lua",
      "package/lua/settle.lua",
      "package/package.json",
    ]);
  });

  it("depends on no workspace package, and on the libraries at the workspace's ranges", () => {
    const packed = JSON.parse(run("tar", ["-xzOf", tarball, "package/package.json"], scratch));
    expect(packed).toMatchObject({ name: "@imrelay/cli", bin: { imrelay: "./bin/imrelay.js" }, license: "MIT" });
    expect(packed.private).toBeUndefined();
    expect(JSON.stringify(packed)).not.toContain("workspace:");
    expect(Object.keys(packed.dependencies).filter((name) => name.startsWith("@imrelay/"))).toEqual([]);
    for (const dir of ["apps/gateway", "apps/worker", "apps/cli", "packages/store", "packages/config"]) {
      for (const [name, range] of Object.entries<string>(manifest(dir).dependencies)) {
        if (!range.startsWith("workspace:")) expect(packed.dependencies[name], `${name} of ${dir}`).toBe(range);
      }
    }
  });

  it("installs an imrelay whose --version is the package's and whose --help is the usage", () => {
    expect(imrelay(["--version"]).trim()).toBe(manifest("apps/cli").version);
    expect(imrelay(["--help"])).toContain("Usage: imrelay <command>");
  });

  it("validates a config file", () => {
    const file = join(scratch, "imrelay.config.yaml");
    writeFileSync(
      file,
      `tenants:
  acme:
    tencent: { sdkAppId: "1400000000", callbackToken: \${TOKEN} }
    endpoints: [{ id: hook, url: "https://acme.example.com/hook", secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw }]
`,
    );
    const out = imrelay(["check-config", "--config", file], { TOKEN: "t0ken-from-env" });
    expect(out).toContain("tenant acme");
    expect(out).toContain("endpoint hook → https://acme.example.com/hook");
    expect(out).not.toContain("t0ken-from-env");
  });

  it("runs the demo with no config: the README's Tencent curl reaches the demo sink signed; SIGTERM stops it", async () => {
    const demo = readmeDemo();
    // A Redis of its own: the demo uses the default key prefix, and the README's callback always has the same id.
    redis = await startPrivateRedis();
    relay = await startRelay({ bin, env: { REDIS_URL: redis.url, LOG_LEVEL: "info" }, port: await freePort() });

    const res = await fetch(demo.url.replace("http://127.0.0.1:8080", relay.url), {
      method: "POST",
      headers: demo.headers,
      body: demo.body,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ActionStatus: "OK", ErrorCode: 0, ErrorInfo: "" });

    const line = await waitFor(
      () =>
        relay!.json().find((l) => typeof l.msg === "string" && l.msg.startsWith("demo sink received")) as
          | Record<string, unknown>
          | undefined,
      15_000,
      "the demo sink's log line",
    );
    expect(line).toMatchObject({
      msg: "demo sink received user.online for testuser316 (signature verified)",
      sink: "demo",
      webhookId: demo.webhookId,
      userId: "testuser316",
      platform: "ios",
    });

    expect(await relay.stop("SIGTERM")).toBe(0);
  });
});
