import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server } from "node:http";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { Redis } from "ioredis";
import { Webhook } from "standardwebhooks";
import { stringify } from "yaml";

export const ROOT = resolve(import.meta.dirname, "../..");
const CLI = join(ROOT, "apps/cli/bin/imrelay.js");

/** Runs `imrelay <args>` to its end; resolves with its exit code and everything it printed. */
export async function runCli(
  args: string[],
  env: Record<string, string> = {},
  { cwd = mkdtempSync(join(tmpdir(), "imrelay-cwd-")), timeoutMs = 30_000 }: { cwd?: string; timeoutMs?: number } = {},
): Promise<{ code: number; out: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: { ...(process.env as Record<string, string>), ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8");
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8");
    });
    // A command that should have stopped by itself and did not is killed, and reads as a failure.
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolveRun({ code: code ?? 1, out });
    });
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createNetServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === "object" && address ? address.port : 0));
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  timeoutMs = 15_000,
  what = "condition",
): Promise<Exclude<T, false | null | undefined | 0 | "">> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value as Exclude<T, false | null | undefined | 0 | "">;
    } catch (err) {
      last = err;
    }
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}

export const newSecret = () => `whsec_${randomBytes(24).toString("base64")}`;
export const newPrefix = () => `e2e-${randomUUID()}`;

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  payload: { type: string; timestamp: string; data: Record<string, unknown> & { id: string } };
  verified: boolean;
}

export type SinkAnswer = { status: number; headers?: Record<string, string>; hang?: boolean };

/** A loopback tenant endpoint that verifies every delivery's signature and answers what `answer` says. */
export async function startSink(
  secret: string,
  answer: (n: number, received: Received) => SinkAnswer = () => ({ status: 200 }),
) {
  const received: Received[] = [];
  const webhook = new Webhook(secret);
  const hanging = new Set<import("node:http").ServerResponse>();
  const server: Server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let verified = false;
      try {
        webhook.verify(body, req.headers as Record<string, string>);
        verified = true;
      } catch {}
      const entry: Received = { headers: req.headers, body, payload: JSON.parse(body), verified };
      received.push(entry);
      const a = answer(received.length, entry);
      if (a.hang) {
        hanging.add(res);
        return;
      }
      res.writeHead(a.status, a.headers).end(a.status >= 400 ? "sink says no" : "");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    ids: () => received.map((r) => r.headers["webhook-id"] as string),
    close: () =>
      new Promise<void>((r) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface Relay {
  url: string;
  port: number;
  child: ChildProcess;
  /** The config file written for it (when `config` was given): rewrite it and send SIGHUP to reload. */
  configFile: string | undefined;
  logs: string[];
  /** Log lines parsed as JSON (pino), non-JSON lines skipped. */
  json(): Array<Record<string, unknown>>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Writes a relay's config file as `startRelay` does: listening on loopback unless the config says otherwise. */
export function writeConfigFile(file: string, config: Record<string, unknown>) {
  writeFileSync(file, stringify({ ...config, gateway: { host: "127.0.0.1", ...(config.gateway as object) } }));
}

/**
 * Runs `imrelay <command>` as a user would: a real process, a config file,
 * its own port. Resolves once the gateway answers /healthz (or, for a worker,
 * once it says it is running).
 */
export async function startRelay(options: {
  command?: "start" | "gateway" | "worker";
  config?: Record<string, unknown>;
  env?: Record<string, string>;
  port?: number;
  cwd?: string;
  /** An installed `imrelay` executable to run instead of the workspace's (found by its `#!/usr/bin/env node`). */
  bin?: string;
}): Promise<Relay> {
  const command = options.command ?? "start";
  const port = options.port ?? (await freePort());
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    LOG_LEVEL: "debug",
    ...options.env,
  };
  delete env.IMRELAY_CONFIG;
  let configFile: string | undefined;
  if (options.config) {
    const dir = mkdtempSync(join(tmpdir(), "imrelay-e2e-"));
    const file = join(dir, "imrelay.config.yaml");
    writeConfigFile(file, options.config);
    env.IMRELAY_CONFIG = file;
    configFile = file;
  }
  // A worker listens (for /metrics) only when asked to.
  const args = command === "worker" && options.port === undefined ? [command] : [command, "--port", String(port)];
  // The bin's shebang finds node on the PATH: make that the node running the tests.
  if (options.bin) env.PATH = `${dirname(process.execPath)}${delimiter}${env.PATH ?? ""}`;
  const child = spawn(options.bin ?? process.execPath, options.bin ? args : [CLI, ...args], {
    cwd: options.cwd ?? mkdtempSync(join(tmpdir(), "imrelay-cwd-")),
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: string[] = [];
  let tail = "";
  const collect = (chunk: Buffer) => {
    tail += chunk.toString("utf8");
    const lines = tail.split("\n");
    tail = lines.pop() ?? "";
    logs.push(...lines.filter(Boolean));
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const url = `http://127.0.0.1:${port}`;
  const relay: Relay = {
    url,
    port,
    child,
    configFile,
    logs,
    json: () =>
      logs.flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      }),
    async stop(signal = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      return exited;
    },
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null)
          throw new Error(`imrelay ${command} exited ${child.exitCode}:\n${logs.join("\n")}`);
        if (command === "worker") return logs.some((l) => l.includes("imrelay worker running"));
        const res = await fetch(`${url}/healthz`);
        return res.ok;
      },
      20_000,
      `imrelay ${command} to start`,
    );
  } catch (err) {
    await relay.stop("SIGKILL");
    throw new Error(`${(err as Error).message}\n--- logs ---\n${logs.join("\n")}`);
  }
  return relay;
}

/** A Redis client on the tests' Redis (REDIS_URL or the local default). */
export function redisClient(url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379") {
  return new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: false });
}

/** Deletes every key under a prefix. */
export async function dropPrefix(redis: Redis, prefix: string) {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== "0");
}

/** A Tencent State.StateChange callback, signed when a token is given. */
export function tencentRequest(options: {
  sdkAppId?: string;
  token?: string;
  nowMs?: number;
  body?: unknown;
  action?: string;
  reason?: string;
  user?: string;
  platform?: string;
  eventTime?: number;
  kicked?: string[];
}) {
  const now = options.nowMs ?? Date.now();
  const query: Record<string, string> = {
    SdkAppid: options.sdkAppId ?? "1400000000",
    CallbackCommand: "State.StateChange",
    contenttype: "json",
    ClientIP: "127.0.0.1",
    OptPlatform: options.platform ?? "IOS",
  };
  if (options.token) {
    query.RequestTime = String(Math.floor(now / 1000));
    query.Sign = createHash("sha256")
      .update(options.token + query.RequestTime)
      .digest("hex");
  }
  const body = options.body ?? {
    CallbackCommand: "State.StateChange",
    EventTime: options.eventTime ?? now,
    Info: {
      Action: options.action ?? "Login",
      To_Account: options.user ?? "testuser316",
      Reason: options.reason ?? "Register",
    },
    ...(options.kicked ? { KickedDevice: options.kicked.map((Platform) => ({ Platform })) } : {}),
  };
  return { query, body: typeof body === "string" ? body : JSON.stringify(body) };
}

export async function postTencent(
  relayUrl: string,
  tenant: string,
  req: { query: Record<string, string>; body: string },
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${relayUrl}/v1/tenants/${tenant}/tencent?${new URLSearchParams(req.query)}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: req.body,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

export async function postOpenIm(
  relayUrl: string,
  tenant: string,
  command: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${relayUrl}/v1/tenants/${tenant}/openim/${command}`, {
    method: "POST",
    headers: {
      "content-type": "application/json; charset=utf-8",
      operationID: String(body.operationID ?? "op"),
      ...headers,
    },
    body: `${JSON.stringify({ callbackCommand: command, ...body })}\n`,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A private redis-server on its own port, to stop and start in fault tests. */
export async function startPrivateRedis(port?: number) {
  const p = port ?? (await freePort());
  const child = spawn(
    "redis-server",
    ["--port", String(p), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    {
      stdio: "ignore",
    },
  );
  const url = `redis://127.0.0.1:${p}`;
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on("error", () => {}); // refused until the server is up: that is what the loop waits for
  await waitFor(
    async () => {
      try {
        await probe.connect();
        return (await probe.ping()) === "PONG";
      } catch {
        probe.disconnect();
        return false;
      }
    },
    10_000,
    "redis-server to start",
  );
  probe.disconnect();
  return {
    url,
    port: p,
    stop: () =>
      new Promise<void>((r) => {
        if (child.exitCode !== null || child.signalCode !== null) return r();
        child.once("exit", () => r());
        child.kill("SIGCONT");
        child.kill("SIGKILL");
      }),
    /** SIGSTOP: Redis keeps its connections and answers nothing, like a hung host. */
    pause: () => child.kill("SIGSTOP"),
  };
}

/** Calls an admin route with the bearer token; a body makes it a JSON POST. */
export async function adminRequest(relayUrl: string, token: string, path: string, body?: unknown) {
  const res = await fetch(`${relayUrl}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/**
 * One sample of a Prometheus metric from `/metrics`, matched on the given
 * labels; 0 while the series does not exist yet (a counter not yet touched).
 */
export async function metricValue(relayUrl: string, name: string, labels: Record<string, string> = {}) {
  const text = await (await fetch(`${relayUrl}/metrics`)).text();
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries(
      [...(match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(match[3]);
  }
  return 0;
}
