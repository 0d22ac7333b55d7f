import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  adminRequest,
  dropPrefix,
  freePort,
  metricValue,
  newPrefix,
  newSecret,
  postTencent,
  type Relay,
  ROOT,
  redisClient,
  startPrivateRedis,
  startRelay,
  startSink,
  tencentRequest,
  waitFor,
  writeConfigFile,
} from "../src/harness.js";

const secret = newSecret();
const TOKEN = "reload-admin-token-0123456789";
const ACME = "1400000000";
const BETA = "1400000001";
const redis = redisClient();
const cleanups: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

async function sink(answer?: Parameters<typeof startSink>[1]) {
  const started = await startSink(secret, answer);
  cleanups.push(() => started.close());
  return started;
}

async function relayWith(config: Record<string, unknown>, options: Partial<Parameters<typeof startRelay>[0]> = {}) {
  const relay = await startRelay({ config, ...options });
  cleanups.push(() => relay.stop("SIGKILL"));
  return relay;
}

function newConfigPrefix() {
  const prefix = newPrefix();
  cleanups.push(() => dropPrefix(redis, prefix));
  return prefix;
}

type Endpoint = { id: string; url: string };
const endpoints = (list: Endpoint[]) => list.map((e) => ({ ...e, secret }));

function relayConfig(
  prefix: string,
  acme: Endpoint[],
  more: { beta?: Endpoint[]; delivery?: Record<string, unknown>; gateway?: Record<string, unknown> } = {},
) {
  return {
    redis: { prefix },
    ...(more.gateway ? { gateway: more.gateway } : {}),
    tenants: {
      acme: { tencent: { sdkAppId: ACME }, endpoints: endpoints(acme) },
      ...(more.beta ? { beta: { tencent: { sdkAppId: BETA }, endpoints: endpoints(more.beta) } } : {}),
    },
    delivery: { allowPrivateNetworks: true, ...more.delivery },
  };
}

type Line = Record<string, unknown> & { msg: string };
const messages = (relay: Relay): Line[] => relay.json().map((line) => ({ ...line, msg: String(line.msg) }));
const reloadLines = (relay: Relay) => messages(relay).filter((l) => /^config reload(ed| refused)/.test(l.msg));

/** Rewrites the relay's config file (or writes `text` as it is), sends SIGHUP, and resolves with the log line that answers it. */
async function reload(relay: Relay, config: Record<string, unknown> | string) {
  const file = relay.configFile!;
  if (typeof config === "string") writeFileSync(file, config);
  else writeConfigFile(file, config);
  const seen = reloadLines(relay).length;
  relay.child.kill("SIGHUP");
  return waitFor(() => reloadLines(relay)[seen], 10_000, "the reload's log line");
}

/** The hash label of `imrelay_config_info`, the config in effect. */
async function liveHash(relay: Relay) {
  const text = await (await fetch(`${relay.url}/metrics`)).text();
  const hashes = [...text.matchAll(/^imrelay_config_info\{hash="([0-9a-f]+)"\} 1$/gm)].map((m) => m[1]);
  expect(hashes).toHaveLength(1);
  return hashes[0]!;
}

/** The hash `imrelay check-config` prints for a config file. */
function checkedHash(file: string) {
  const out = execFileSync(
    process.execPath,
    [join(ROOT, "apps/cli/bin/imrelay.js"), "check-config", "--config", file],
    {
      encoding: "utf8",
    },
  );
  return /^config hash: ([0-9a-f]{16}) /m.exec(out)?.[1];
}

const users = (s: Awaited<ReturnType<typeof sink>>) => new Set(s.received.map((r) => String(r.payload.data.userId)));

describe("SIGHUP with a valid config file", () => {
  it("adds an endpoint mid-traffic: every callback answered 200, every later event at the new endpoint, nothing lost", async () => {
    const prefix = newConfigPrefix();
    const oldSink = await sink();
    const newSink = await sink();
    const before = relayConfig(prefix, [{ id: "old", url: oldSink.url }]);
    const relay = await relayWith(before);
    const loadedHash = messages(relay).find((l) => l.msg === "config loaded")?.config_hash;
    expect(await liveHash(relay)).toBe(loadedHash);

    // Four callers in a loop, each callback a user of its own; `phase` is read when a callback is sent.
    type Phase = "before" | "during" | "after";
    let phase = "before" as Phase;
    let stopped = false;
    let n = 0;
    const sent: Array<{ user: string; status: number; phase: Phase }> = [];
    const caller = async () => {
      while (!stopped) {
        const user = `u${n++}`;
        const at = phase;
        const { status } = await postTencent(relay.url, "acme", tencentRequest({ user }));
        sent.push({ user, status, phase: at });
      }
    };
    const callers = Promise.all([caller(), caller(), caller(), caller()]);
    const count = (p: Phase) => sent.filter((s) => s.phase === p).length;

    await waitFor(() => count("before") >= 40, 20_000, "traffic before the reload");
    phase = "during";
    const line = await reload(
      relay,
      relayConfig(prefix, [
        { id: "old", url: oldSink.url },
        { id: "new", url: newSink.url },
      ]),
    );
    phase = "after";
    const fileHash = checkedHash(relay.configFile!);
    await waitFor(() => count("after") >= 40, 20_000, "traffic after the reload");
    stopped = true;
    await callers;

    expect(line.msg).toBe("config reloaded");
    expect(line).toMatchObject({ added: ["endpoint acme/new"], removed: [], changed: [], previous_hash: loadedHash });
    expect(line.config_hash).not.toBe(loadedHash);
    expect(await liveHash(relay)).toBe(line.config_hash);
    expect(fileHash).toBe(line.config_hash);
    expect(count("during")).toBeGreaterThan(0);
    expect(sent.filter((s) => s.status !== 200)).toEqual([]);

    const all = sent.map((s) => s.user);
    const later = sent.filter((s) => s.phase === "after").map((s) => s.user);
    await waitFor(() => all.every((u) => users(oldSink).has(u)), 30_000, "every event at the old endpoint");
    await waitFor(() => later.every((u) => users(newSink).has(u)), 30_000, "every later event at the new endpoint");
    expect(oldSink.received.every((r) => r.verified) && newSink.received.every((r) => r.verified)).toBe(true);
    expect(await metricValue(relay.url, "imrelay_config_reloads_total", { outcome: "applied" })).toBe(1);
  });

  it("accepts a new tenant's callbacks (404 before), and names each setting that needs a restart", async () => {
    const prefix = newConfigPrefix();
    const acmeSink = await sink();
    const betaSink = await sink();
    const relay = await relayWith(relayConfig(prefix, [{ id: "a", url: acmeSink.url }]));
    expect((await postTencent(relay.url, "beta", tencentRequest({ sdkAppId: BETA, user: "b0" }))).status).toBe(404);

    const line = await reload(
      relay,
      relayConfig(prefix, [{ id: "a", url: acmeSink.url }], {
        beta: [{ id: "b", url: betaSink.url }],
        delivery: { concurrency: 7 },
        gateway: { requestTimeoutMs: 20_000 },
      }),
    );
    expect(line).toMatchObject({ msg: "config reloaded", added: ["tenant beta"] });
    const warning = messages(relay).find((l) => l.msg.startsWith("config reload: these settings need a restart"));
    expect(warning?.notApplied).toEqual(["delivery.concurrency", "gateway.requestTimeoutMs"]);

    expect((await postTencent(relay.url, "beta", tencentRequest({ sdkAppId: BETA, user: "b1" }))).status).toBe(200);
    await waitFor(() => users(betaSink).has("b1"), 15_000, "the new tenant's event");
    expect(users(acmeSink).has("b1")).toBe(false);
  });
});

describe("SIGHUP with an invalid config file", () => {
  it("is refused with every bad field logged, and the old config keeps delivering", async () => {
    const prefix = newConfigPrefix();
    const oldSink = await sink();
    const relay = await relayWith(relayConfig(prefix, [{ id: "old", url: oldSink.url }]));
    const hash = await liveHash(relay);

    const line = await reload(relay, {
      redis: { prefix },
      tenants: {
        acme: { tencent: { sdkAppId: ACME }, endpoints: [{ id: "old", url: "ftp://example.com/", secret: "nope" }] },
        beta: { endpoints: [] },
      },
      delivery: { allowPrivateNetworks: true, timeoutMs: -5 },
    });
    expect(line.msg).toMatch(
      /^config reload refused, the running config \([0-9a-f]+\) stays in effect: .* is not valid/,
    );
    expect(line.code).toBe("CONFIG_INVALID");
    const problems = (line.problems as string[]).map((p) => p.split(":")[0]);
    expect(problems).toEqual(
      expect.arrayContaining([
        "tenants.acme.endpoints[0].url",
        "tenants.acme.endpoints[0].secret",
        "tenants.beta",
        "delivery.timeoutMs",
      ]),
    );
    for (const field of ["tenants.acme.endpoints[0].url", "delivery.timeoutMs"]) expect(line.msg).toContain(field);

    const broken = await reload(relay, `tenants: [unclosed\nsecret: ${secret}\n`);
    expect(broken.msg).toMatch(/^config reload refused.*not valid YAML or JSON: .* at line 2, column 1$/);
    expect(relay.logs.join("\n")).not.toContain(secret);

    expect(relay.child.exitCode).toBeNull();
    expect(await liveHash(relay)).toBe(hash);
    expect(await metricValue(relay.url, "imrelay_config_reloads_total", { outcome: "refused" })).toBe(2);
    expect((await postTencent(relay.url, "acme", tencentRequest({ user: "still" }))).status).toBe(200);
    await waitFor(() => users(oldSink).has("still"), 15_000, "delivery with the old config");
  });
});

describe("SIGHUP removing an endpoint that has deliveries waiting for a retry", () => {
  it("turns them into dead letters saying the endpoint left the config, and keeps running", async () => {
    const prefix = newConfigPrefix();
    const keep = await sink();
    const gone = await sink(() => ({ status: 500 }));
    const both = [
      { id: "keep", url: keep.url },
      { id: "gone", url: gone.url },
    ];
    const delivery = { retrySchedule: ["3s", "3s", "3s"] };
    const relay = await relayWith(relayConfig(prefix, both, { delivery }), { env: { IMRELAY_ADMIN_TOKEN: TOKEN } });
    for (const user of ["g1", "g2", "g3"]) {
      expect((await postTencent(relay.url, "acme", tencentRequest({ user }))).status).toBe(200);
    }
    await waitFor(() => gone.received.length >= 3 && keep.received.length >= 3, 15_000, "the first attempts");

    const line = await reload(relay, relayConfig(prefix, [{ id: "keep", url: keep.url }], { delivery }));
    expect(line).toMatchObject({ msg: "config reloaded", removed: ["endpoint acme/gone"] });
    const attempts = gone.received.length;

    const failed = await waitFor(
      async () => {
        const res = await adminRequest(relay.url, TOKEN, "/v1/deliveries?state=failed&endpoint=gone");
        return res.body.total === 3 && (res.body.deliveries as Array<Record<string, unknown>>);
      },
      15_000,
      "the dead letters",
    );
    for (const dead of failed) {
      expect(dead.failedReason).toBe(
        "endpoint gone of tenant acme is no longer in the config (removed by a reload or a restart): not sent",
      );
    }
    expect(gone.received.length).toBe(attempts);
    // The worker logs each on BullMQ's "failed" event, once Redis has it failed: the admin API can
    // list the third before its line is written and has come through the pipe.
    const deadLines = () => messages(relay).filter((l) => l.msg === "delivery is a dead letter").length;
    await waitFor(() => deadLines() >= 3, 5_000, "the dead-letter log lines");
    expect(deadLines()).toBe(3);

    expect(relay.child.exitCode).toBeNull();
    expect((await postTencent(relay.url, "acme", tencentRequest({ user: "g4" }))).status).toBe(200);
    await waitFor(() => users(keep).has("g4"), 15_000, "a delivery after the dead letters");
  });
});

describe("SIGHUP to a gateway and a worker run apart", () => {
  it("reloads both: the gateway takes the new tenant, the worker delivers to the new endpoints", async () => {
    const prefix = newConfigPrefix();
    const oldSink = await sink();
    const newSink = await sink();
    const betaSink = await sink();
    const before = relayConfig(prefix, [{ id: "old", url: oldSink.url }]);
    const gateway = await relayWith(before, { command: "gateway" });
    const worker = await relayWith(before, { command: "worker" });
    expect((await postTencent(gateway.url, "acme", tencentRequest({ user: "a1" }))).status).toBe(200);
    await waitFor(() => users(oldSink).has("a1"), 15_000, "the first delivery");
    expect((await postTencent(gateway.url, "beta", tencentRequest({ sdkAppId: BETA, user: "b0" }))).status).toBe(404);
    const hash = await liveHash(gateway);

    const after = relayConfig(
      prefix,
      [
        { id: "old", url: oldSink.url },
        { id: "new", url: newSink.url },
      ],
      { beta: [{ id: "b", url: betaSink.url }] },
    );
    const [gatewayLine, workerLine] = await Promise.all([reload(gateway, after), reload(worker, after)]);
    expect(gatewayLine.msg).toBe("config reloaded");
    expect(workerLine.msg).toBe("config reloaded");
    expect(workerLine.config_hash).toBe(gatewayLine.config_hash);
    expect(await liveHash(gateway)).toBe(gatewayLine.config_hash);
    expect(gatewayLine.config_hash).not.toBe(hash);

    expect((await postTencent(gateway.url, "acme", tencentRequest({ user: "a2" }))).status).toBe(200);
    expect((await postTencent(gateway.url, "beta", tencentRequest({ sdkAppId: BETA, user: "b1" }))).status).toBe(200);
    await waitFor(() => users(oldSink).has("a2") && users(newSink).has("a2"), 15_000, "a2 at both endpoints");
    await waitFor(() => users(betaSink).has("b1"), 15_000, "the new tenant's delivery");
  });
});

describe("SIGHUP with no config file (the demo)", () => {
  it("says there is nothing to reload and keeps running", async () => {
    const privateRedis = await startPrivateRedis();
    cleanups.push(() => privateRedis.stop());
    const relay = await startRelay({ env: { REDIS_URL: privateRedis.url }, port: await freePort() });
    cleanups.push(() => relay.stop("SIGKILL"));
    relay.child.kill("SIGHUP");
    await waitFor(
      () => messages(relay).some((l) => l.msg.startsWith("SIGHUP: no config file")),
      10_000,
      "the demo's answer to SIGHUP",
    );
    expect(relay.child.exitCode).toBeNull();
    expect((await fetch(`${relay.url}/healthz`)).status).toBe(200);
  });
});
