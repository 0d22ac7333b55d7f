import { randomUUID } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { type ImrelayConfigInput, parseConfig } from "@imrelay/config";
import { signTencentQuery } from "@imrelay/tencent-adapter";
import { type RunningWorker, startWorker } from "@imrelay/worker";
import pino from "pino";
import { Registry } from "prom-client";
import type { Vendor } from "../src/callbacks/vendor.js";
import { GATEWAY_REDACT_PATHS as REDACT_PATHS } from "../src/logging.js";
import { type RunningGateway, startGateway } from "../src/run-gateway.js";
import { dropPrefix, newRedis } from "./helpers.js";

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/** A random Standard Webhooks secret: `whsec_` and base64. */
export const webhookSecret = () => `whsec_${Buffer.from(randomUUID() + randomUUID()).toString("base64")}`;

export interface SinkRequest {
  headers: IncomingHttpHeaders;
  body: string;
  /** The delivered payload, parsed. */
  payload: { type: string; data: { id: string; userId: string; [key: string]: unknown } };
}

/** A loopback receiver of deliveries whose answer a test can change mid-run. */
export interface Sink {
  url: string;
  requests: SinkRequest[];
  answer(status: number, body?: string): void;
  close(): Promise<void>;
}

export async function startSink(status: number, body = "ok"): Promise<Sink> {
  const requests: SinkRequest[] = [];
  let answer = { status, body };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      requests.push({ headers: req.headers, body: text, payload: JSON.parse(text) });
      res.writeHead(answer.status, { "content-type": "text/plain" }).end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    answer(next, nextBody = "ok") {
      answer = { status: next, body: nextBody };
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A pino logger with the CLI's redaction, writing its lines to memory. */
export function memoryLog() {
  const lines: string[] = [];
  let partial = "";
  const destination = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      partial += chunk.toString();
      const parts = partial.split("\n");
      partial = parts.pop() ?? "";
      lines.push(...parts.filter((line) => line !== ""));
      callback();
    },
  });
  const logger = pino({ level: "debug", redact: { paths: REDACT_PATHS, censor: "[redacted]" } }, destination);
  return { logger, lines, entries: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

/** A JSON answer, read field by field: admin errors have `error`, everything else is checked where it is read. */
export type Answer = { error?: { code: string; message: string }; [field: string]: unknown };

export interface Stack {
  base: string;
  gateway: RunningGateway;
  worker: RunningWorker | undefined;
  registry: Registry;
  log: ReturnType<typeof memoryLog>;
  /** Every answer body the test read through `call`, for the secrets check. */
  answers: string[];
  /** fetch against the gateway that keeps the answer's body text. */
  call(path: string, init?: RequestInit): Promise<{ status: number; text: string; json: Answer; headers: Headers }>;
  close(): Promise<void>;
}

/** Gateway and worker in one process on one registry, as `imrelay start` runs them. */
export async function startStack(
  input: Pick<ImrelayConfigInput, "tenants"> & {
    adminToken?: string;
    prefix: string;
    worker?: boolean;
    /** The vendors served (config sections, routes): the registry's unless given. */
    vendors?: readonly Vendor[];
  },
): Promise<Stack> {
  const config = parseConfig(
    {
      tenants: input.tenants,
      redis: { url: REDIS_URL, prefix: input.prefix },
      gateway: { host: "127.0.0.1", port: 0 },
      delivery: { allowPrivateNetworks: true, retrySchedule: [50, 50], timeoutMs: 1000 },
      admin: input.adminToken ? { token: input.adminToken } : {},
    },
    "test config",
    {},
    input.vendors ? { vendors: input.vendors } : {},
  );
  const registry = new Registry();
  const log = memoryLog();
  const worker =
    input.worker === false
      ? undefined
      : await startWorker({ config, logger: log.logger, registry, dispatcher: { blockMs: 200 } });
  const gateway = await startGateway({
    config,
    logger: log.logger,
    registry,
    ...(input.vendors ? { vendors: input.vendors } : {}),
  });
  const base = `http://127.0.0.1:${gateway.port}`;
  const answers: string[] = [];
  return {
    base,
    gateway,
    worker,
    registry,
    log,
    answers,
    async call(path, init) {
      const res = await fetch(`${base}${path}`, init);
      const text = await res.text();
      answers.push(text);
      let json: Answer = {};
      try {
        json = JSON.parse(text) as Answer;
      } catch {
        // Not JSON (the dashboard's HTML, /metrics): only `text` is read.
      }
      return { status: res.status, text, json, headers: res.headers };
    },
    async close() {
      await gateway.close();
      await worker?.close();
    },
  };
}

/** Deletes every key under the prefix. */
export async function dropKeys(prefix: string) {
  const redis = newRedis();
  await dropPrefix(redis, prefix);
  redis.disconnect();
}

/** Polls until `check` returns a truthy value, and returns it. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  what: string,
  timeoutMs = 8_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A signed Tencent `State.StateChange` callback: the query (with `Sign`) and the body. */
export function tencentCallback(input: {
  token: string;
  sdkAppId: string;
  userId: string;
  action?: string;
  reason?: string;
  eventTime: number;
}) {
  const query = signTencentQuery({ token: input.token, sdkAppId: input.sdkAppId });
  const body = JSON.stringify({
    CallbackCommand: "State.StateChange",
    EventTime: input.eventTime,
    Info: { Action: input.action ?? "Login", To_Account: input.userId, Reason: input.reason ?? "Register" },
  });
  return { query, body };
}

/** POSTs a Tencent callback to a tenant's URL. */
export function postTencent(stack: Stack, tenant: string, callback: { query: Record<string, string>; body: string }) {
  return stack.call(`/v1/tenants/${tenant}/tencent?${new URLSearchParams(callback.query)}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: callback.body,
  });
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition. */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key!] = value!;
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample with exactly these labels; undefined when there is none. */
export function sampleValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels);
  const found = samples.filter(
    (s) =>
      s.name === name &&
      Object.keys(s.labels).length === wanted.length &&
      wanted.every(([key, value]) => s.labels[key] === value),
  );
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value;
}
