import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * What "install an adapter alone" means: pack the publishable packages as
 * npm would publish them, install the tarballs into a project outside the
 * workspace, and use them there through their public entry points only.
 */
const root = resolve(import.meta.dirname, "../..");
const scratch = mkdtempSync(join(tmpdir(), "imrelay-pack-"));
const PACKAGES = ["core", "tencent-adapter", "openim-adapter", "netease-adapter", "agora-adapter"] as const;
/** A project that installs one adapter and core only, to show the adapter needs nothing else. */
const alone = join(scratch, "agora-alone");

function run(cmd: string, args: string[], cwd: string) {
  return execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 180_000 });
}

const tarball = (pkg: string) =>
  readdirSync(scratch).find((f) => f.startsWith(`imrelay-${pkg}-`) && f.endsWith(".tgz"))!;
/** Where a package's tarball is unpacked: exactly the files npm would publish. */
const unpacked = (pkg: string) => join(scratch, "unpacked", pkg);

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

beforeAll(() => {
  const tarballs: Record<string, string> = {};
  for (const pkg of PACKAGES) {
    run("pnpm", ["pack", "--pack-destination", scratch], join(root, "packages", pkg));
    const file = readdirSync(scratch).find((f) => f.startsWith(`imrelay-${pkg}-`) && f.endsWith(".tgz"));
    if (!file) throw new Error(`pnpm pack produced no tarball for ${pkg}`);
    tarballs[`@imrelay/${pkg}`] = `file:./${file}`;
    mkdirSync(unpacked(pkg), { recursive: true });
    run("tar", ["-xzf", file, "-C", unpacked(pkg), "--strip-components=1"], scratch);
  }
  writeFileSync(
    join(scratch, "package.json"),
    JSON.stringify({
      name: "scratch-consumer",
      private: true,
      type: "module",
      dependencies: tarballs,
      // The adapters depend on @imrelay/core by version; point that at the local tarball too.
      overrides: { "@imrelay/core": tarballs["@imrelay/core"] },
    }),
  );
  run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], scratch);

  mkdirSync(alone);
  const agoraOnly = {
    "@imrelay/core": tarballs["@imrelay/core"]!.replace("file:./", "file:../"),
    "@imrelay/agora-adapter": tarballs["@imrelay/agora-adapter"]!.replace("file:./", "file:../"),
  };
  writeFileSync(
    join(alone, "package.json"),
    JSON.stringify({
      name: "agora-alone-consumer",
      private: true,
      type: "module",
      dependencies: agoraOnly,
      overrides: { "@imrelay/core": agoraOnly["@imrelay/core"] },
    }),
  );
  run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], alone);
}, 360_000);

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("the published packages, installed outside the workspace", () => {
  it("ship dist, the sources its maps point to, README and LICENSE; no tests", () => {
    for (const pkg of PACKAGES) {
      const listing = run("tar", ["-tzf", tarball(pkg)], scratch);
      expect(listing).toContain("package/dist/index.js");
      expect(listing).toContain("package/dist/index.d.ts");
      expect(listing).toContain("package/README.md");
      expect(listing).toContain("package/LICENSE");
      expect(listing).not.toMatch(/package\/test\//);
      expect(listing).not.toMatch(/\.tsbuildinfo/);
    }
  });

  it("point every source map at a file in the tarball, and every map reference at a map", () => {
    for (const pkg of PACKAGES) {
      const dir = unpacked(pkg);
      const files = filesUnder(dir);
      const missing: string[] = [];
      for (const map of files.filter((f) => f.endsWith(".map"))) {
        const { sources = [], sourceRoot = "" } = JSON.parse(readFileSync(map, "utf8")) as {
          sources?: string[];
          sourceRoot?: string;
        };
        for (const source of sources) {
          const target = resolve(dirname(map), sourceRoot, source);
          if (relative(dir, target).startsWith("..") || !existsSync(target)) {
            missing.push(`${relative(dir, map)} → ${source}`);
          }
        }
      }
      for (const file of files.filter((f) => /\.(js|d\.ts)$/.test(f))) {
        const url = /^\/\/# sourceMappingURL=(\S+)\s*$/m.exec(readFileSync(file, "utf8"))?.[1];
        if (url && !existsSync(resolve(dirname(file), url))) missing.push(`${relative(dir, file)} → ${url}`);
      }
      expect(missing, `@imrelay/${pkg}`).toEqual([]);
    }
  });

  it("carry the repository's MIT LICENSE and link back to the repository", () => {
    const license = readFileSync(join(root, "LICENSE"), "utf8");
    expect(license).toMatch(/^MIT License/);
    for (const pkg of PACKAGES) {
      expect(readFileSync(join(unpacked(pkg), "LICENSE"), "utf8"), `@imrelay/${pkg}`).toBe(license);
      const manifest = JSON.parse(readFileSync(join(unpacked(pkg), "package.json"), "utf8"));
      expect(manifest).toMatchObject({
        license: "MIT",
        repository: {
          type: "git",
          url: "git+https://github.com/imrelay/imrelay.git",
          directory: `packages/${pkg}`,
        },
        homepage: `https://github.com/imrelay/imrelay/tree/main/packages/${pkg}#readme`,
        bugs: { url: "https://github.com/imrelay/imrelay/issues" },
      });
    }
  });

  it("verify and parse a Tencent and an OpenIM callback through the public entry points", () => {
    writeFileSync(
      join(scratch, "use.mjs"),
      `
import { createHash } from "node:crypto";
import { handleCallback as tencent, TencentCallbackError } from "@imrelay/tencent-adapter";
import { handleCallback as openim, OpenImCallbackError } from "@imrelay/openim-adapter";
import * as tencentExpress from "@imrelay/tencent-adapter/express";
import * as openimExpress from "@imrelay/openim-adapter/express";
import { ImrelayEvent, AdapterEvent, eventId } from "@imrelay/core";
import schema from "@imrelay/core/payload.schema.json" with { type: "json" };

const now = 1629883340000;
const RequestTime = String(Math.floor(now / 1000));
const Sign = createHash("sha256").update("tok" + RequestTime).digest("hex");
const t = tencent(
  {
    body: JSON.stringify({ CallbackCommand: "State.StateChange", EventTime: 1629883332497, Info: { Action: "Login", To_Account: "testuser316", Reason: "Register" } }),
    query: { SdkAppid: "1400000000", CallbackCommand: "State.StateChange", contenttype: "json", ClientIP: "127.0.0.1", OptPlatform: "IOS", Sign, RequestTime },
    headers: { "content-type": "application/json" },
  },
  { tenant: "acme", sdkAppId: "1400000000", token: "tok", now },
);
let bad;
try { tencent({ body: "{}", query: { SdkAppid: "1400000000", Sign: "00", RequestTime } }, { tenant: "acme", sdkAppId: "1400000000", token: "tok", now }); }
catch (err) { bad = err; }
const o = openim(
  {
    body: JSON.stringify({ callbackCommand: "callbackAfterUserOnlineCommand", operationID: "p_1", platformID: 5, platform: "Web", userID: "u1", seq: 1751440000000, isAppBackground: false, connID: "" }) + "\\n",
    headers: { Operationid: "p_1" },
    path: "/hooks/callbackAfterUserOnlineCommand",
  },
  { tenant: "acme", appId: "acme-openim", now },
);
console.log(JSON.stringify({
  tencent: t.events[0], tencentResponse: t.response, tencentValid: AdapterEvent.safeParse(t.events[0]).success,
  badCode: bad instanceof TencentCallbackError ? bad.code : String(bad), badStatus: bad?.status, badResponse: bad?.response,
  openim: o.events[0], openimResponse: o.response, openimErrorIsClass: typeof OpenImCallbackError === "function",
  express: [typeof Object.values(tencentExpress)[0], typeof Object.values(openimExpress)[0]],
  schemaTitle: schema.title, eventSchema: typeof ImrelayEvent.parse, id: typeof eventId,
}));
`,
    );
    const out = JSON.parse(run("node", ["use.mjs"], scratch));
    expect(out.tencent).toMatchObject({
      type: "user.online",
      tenant: "acme",
      provider: "tencent",
      appId: "1400000000",
      userId: "testuser316",
      status: "online",
      reason: "login",
      platform: "ios",
      clientIp: "127.0.0.1",
      occurredAt: "2021-08-25T09:22:12.497Z",
    });
    expect(out.tencentValid).toBe(true);
    expect(out.tencentResponse).toEqual({ ActionStatus: "OK", ErrorCode: 0, ErrorInfo: "" });
    expect(out.badCode).toBe("SIGNATURE_MISMATCH");
    expect(out.badStatus).toBe(401);
    expect(out.badResponse).toMatchObject({ ActionStatus: "FAIL", ErrorCode: 1 });
    expect(out.openim).toMatchObject({
      type: "user.online",
      userId: "u1",
      platform: "web",
      provider: "openim",
      background: false,
    });
    expect(out.openimResponse).toEqual({ actionCode: 0, errCode: 0, errMsg: "", errDlt: "", nextCode: 0 });
    expect(out.express).toEqual(["function", "function"]);
    expect(out.schemaTitle).toBe("imrelay webhook payload");
  });

  it("type-check a TypeScript consumer against the shipped declarations", () => {
    writeFileSync(
      join(scratch, "use.ts"),
      `
import { handleCallback, type TencentCallbackError } from "@imrelay/tencent-adapter";
import { handleCallback as openim } from "@imrelay/openim-adapter";
import { handleCallback as netease, type NeteaseCallbackError } from "@imrelay/netease-adapter";
import type { AdapterEvent, ImrelayEvent } from "@imrelay/core";

const out = handleCallback({ body: "{}", query: {}, headers: {} }, { tenant: "a", sdkAppId: "1" });
const events: AdapterEvent[] = out.events;
const flag: boolean = out.unrecognized;
const o = openim({ body: "{}", path: "/x" }, { tenant: "a", appId: "b" });
const e: AdapterEvent[] = o.events;
declare const err: TencentCallbackError;
const code: string = err.code;
const status: number = err.status;
declare const full: ImrelayEvent;
const seq: number = full.sequence;
const n = netease({ body: "{}", headers: {} }, { tenant: "a", appKey: "k", appSecret: "s" });
const ne: AdapterEvent[] = n.events;
declare const neteaseErr: NeteaseCallbackError;
const neteaseCode: number = neteaseErr.response.code;
export { events, flag, e, code, status, seq, ne, neteaseCode };
`,
    );
    writeFileSync(
      join(scratch, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          module: "NodeNext",
          moduleResolution: "NodeNext",
          target: "ES2022",
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: [],
        },
        files: ["use.ts"],
      }),
    );
    const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
    expect(() => run("node", [tsc, "-p", "tsconfig.json"], scratch)).not.toThrow();
  });
  it("verify and parse an Agora Chat / Easemob callback with only the agora adapter and core installed", () => {
    expect(readdirSync(join(alone, "node_modules", "@imrelay")).sort()).toEqual(["agora-adapter", "core"]);
    expect(() => run("node", ["-e", "import('express')"], alone)).toThrow();
    writeFileSync(
      join(alone, "use.mjs"),
      `
import { AgoraCallbackError, agoraSecurity, handleCallback, signAgoraBody } from "@imrelay/agora-adapter";
import { agoraWebhook } from "@imrelay/agora-adapter/express";
import { AdapterEvent } from "@imrelay/core";

const options = { tenant: "acme", appKey: "61000000#acme", secret: "s3cr3t-rule", now: 1642648915000 };
const sample = JSON.stringify({
  callId: "61000000#acme_25b54a81-1376-4669-bb3d-178339a8f11b", reason: "logout",
  security: "50ec10b4c20074a68eabbd87d64b8983", os: "ios", ip: "223.71.97.198:52709",
  host: "msync@ebs-ali-beijing-msync40", appkey: "61000000#acme",
  user: "61000000#acme_alice@easemob.com/ios_6d580737-db3a-d2b5-da18-b6045ffd195b",
  version: "3.8.9.1", timestamp: 1642648914742, status: "offline",
});
const out = handleCallback({ body: new TextEncoder().encode(sample), query: {}, headers: {} }, options);
const login = handleCallback({ body: signAgoraBody({ secret: "s3cr3t-rule", appKey: "61000000#acme", userId: "bob_smith" }) }, options);
let bad;
try { handleCallback({ body: sample.replace("50ec10b4", "00000000") }, options); } catch (err) { bad = err; }
console.log(JSON.stringify({
  event: out.events[0], valid: AdapterEvent.safeParse(out.events[0]).success, response: out.response,
  login: login.events[0]?.userId, vector: agoraSecurity("61000000#acme_25b54a81-1376-4669-bb3d-178339a8f11b", "s3cr3t-rule", 1642648914742),
  badCode: bad instanceof AgoraCallbackError ? bad.code : String(bad), badStatus: bad?.status, badResponse: bad?.response,
  express: typeof agoraWebhook,
}));
`,
    );
    const out = JSON.parse(run("node", ["use.mjs"], alone));
    expect(out.event).toMatchObject({
      type: "user.offline",
      provider: "agora",
      appId: "61000000#acme",
      userId: "alice",
      status: "offline",
      reason: "logout",
      platform: "ios",
      clientIp: "223.71.97.198",
      connectionId: "ios_6d580737-db3a-d2b5-da18-b6045ffd195b",
      occurredAt: "2022-01-20T03:21:54.742Z",
    });
    expect(out.valid).toBe(true);
    expect(out.response).toEqual({ status: "ok" });
    expect(out.login).toBe("bob_smith");
    expect(out.vector).toBe("50ec10b4c20074a68eabbd87d64b8983");
    expect(out.badCode).toBe("SIGNATURE_MISMATCH");
    expect(out.badStatus).toBe(401);
    expect(out.badResponse).toEqual({
      status: "error",
      error: "SIGNATURE_MISMATCH",
      error_description: "security does not match",
    });
    expect(out.express).toBe("function");

    writeFileSync(
      join(alone, "use.ts"),
      `
import { type AgoraCallbackError, type AgoraCallbackResult, failAnswer, handleCallback } from "@imrelay/agora-adapter";
import type { AdapterEvent } from "@imrelay/core";

const out: AgoraCallbackResult = handleCallback({ body: "{}" }, { tenant: "a", appKey: "1#a", secret: "s" });
const events: AdapterEvent[] = out.events;
declare const err: AgoraCallbackError;
const code: string = err.code;
const status: number = err.status;
const description: string = failAnswer(err).error_description;
export { events, code, status, description };
`,
    );
    writeFileSync(
      join(alone, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          module: "NodeNext",
          moduleResolution: "NodeNext",
          target: "ES2022",
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: [],
        },
        files: ["use.ts"],
      }),
    );
    const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
    expect(() => run("node", [tsc, "-p", "tsconfig.json"], alone)).not.toThrow();
  });
});

describe("@imrelay/netease-adapter installed alone", () => {
  it("verifies and parses a signed NetEase copy with only core beside it", () => {
    // A project of its own: nothing but the adapter and the core it depends on, no express, no other adapter.
    const alone = mkdtempSync(join(tmpdir(), "imrelay-netease-"));
    try {
      for (const pkg of ["core", "netease-adapter"] as const) {
        writeFileSync(join(alone, tarball(pkg)), readFileSync(join(scratch, tarball(pkg))));
      }
      writeFileSync(
        join(alone, "package.json"),
        JSON.stringify({
          name: "netease-consumer",
          private: true,
          type: "module",
          dependencies: { "@imrelay/netease-adapter": `file:./${tarball("netease-adapter")}` },
          overrides: { "@imrelay/core": `file:./${tarball("core")}` },
        }),
      );
      run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], alone);
      expect(readdirSync(join(alone, "node_modules", "@imrelay")).sort()).toEqual(["core", "netease-adapter"]);

      writeFileSync(
        join(alone, "use.mjs"),
        `
import { createHash } from "node:crypto";
import { handleCallback, NeteaseCallbackError, neteaseRequest, okAnswer, failAnswer } from "@imrelay/netease-adapter";
import { AdapterEvent } from "@imrelay/core";

const appKey = "0123456789abcdef0123456789abcdef";
const appSecret = "c8c1d3e5a7f9";
const body = '{"eventType":"2","accid":"t3","clientType":"AOS","code":"200","clientIp":"60.205.10.202","deviceId":"c25f82d0-5f2e-492f-b5cc-3f4a585c25a2","sdkVersion":"152","timestamp":"1608877682237"}';
const MD5 = createHash("md5").update(body).digest("hex");
const CurTime = "1608877682500";
const CheckSum = createHash("sha1").update(appSecret + MD5 + CurTime).digest("hex");
const options = { tenant: "acme", appKey, appSecret, now: 1608877682510 };
const out = handleCallback({ body: Buffer.from(body), headers: { md5: MD5, checksum: CheckSum, curtime: CurTime, appkey: appKey } }, options);
let bad;
try { handleCallback({ body, headers: { MD5, CheckSum: "0".repeat(40), CurTime } }, options); } catch (err) { bad = err; }
const probe = handleCallback(neteaseRequest({ body: "{}", appKey, appSecret }), options);
let express;
try { await import("@imrelay/netease-adapter/express"); express = "loaded"; } catch (err) { express = err.code; }
console.log(JSON.stringify({
  md5: MD5, checkSum: CheckSum, event: out.events[0], valid: AdapterEvent.safeParse(out.events[0]).success, response: out.response,
  badIsClass: bad instanceof NeteaseCallbackError, badCode: bad?.code, badStatus: bad?.status, badResponse: bad?.response,
  probe: { unrecognized: probe.unrecognized, reason: probe.unrecognizedReason, response: probe.response },
  ok: okAnswer(), fail: failAnswer({ status: 503, code: "STORE_UNAVAILABLE", message: "down" }), express,
}));
`,
      );
      const out = JSON.parse(run("node", ["use.mjs"], alone));
      expect(out.md5).toBe("17fc2b61df5fa5d7112a0c62c4b54916");
      expect(out.checkSum).toBe("74cbed0ebf586653214fb612fa3b661f1e9006fc");
      expect(out.event).toMatchObject({
        type: "user.online",
        tenant: "acme",
        provider: "netease",
        appId: "0123456789abcdef0123456789abcdef",
        userId: "t3",
        status: "online",
        reason: "login",
        platform: "android",
        clientIp: "60.205.10.202",
        connectionId: "c25f82d0-5f2e-492f-b5cc-3f4a585c25a2",
        occurredAt: "2020-12-25T06:28:02.237Z",
      });
      expect(out.valid).toBe(true);
      expect(out.response).toEqual({ code: 200 });
      expect(out).toMatchObject({
        badIsClass: true,
        badCode: "SIGNATURE_MISMATCH",
        badStatus: 401,
        badResponse: { code: 401, desc: "CheckSum does not match" },
      });
      expect(out.probe).toEqual({ unrecognized: true, reason: "url probe", response: { code: 200 } });
      expect(out.ok).toEqual({ code: 200 });
      expect(out.fail).toEqual({ code: 503, desc: "down" });
      // express is an optional peer: the subpath loads without it, as long as nothing calls into Express.
      expect(out.express).toBe("loaded");
    } finally {
      rmSync(alone, { recursive: true, force: true });
    }
  }, 240_000);
});
