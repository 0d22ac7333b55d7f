import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { dropPrefix, freePort, newPrefix, ROOT, redisClient, waitFor } from "../src/harness.js";

const redis = redisClient();
const prefixes: string[] = [];
const children: ChildProcess[] = [];
const pids: number[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
  for (const pid of pids.splice(0)) if (alive(pid)) process.kill(pid, "SIGKILL");
  for (const prefix of prefixes.splice(0)) await dropPrefix(redis, prefix);
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Every process below `root`, with its command line (Linux `ps`). */
function descendants(root: number): Array<{ pid: number; args: string }> {
  const rows = execFileSync("ps", ["-eo", "pid=,ppid=,args="], { encoding: "utf8" })
    .split("\n")
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3]! }));
  const found: Array<{ pid: number; args: string }> = [];
  const walk = (parent: number) => {
    for (const row of rows.filter((r) => r.ppid === parent)) {
      found.push({ pid: row.pid, args: row.args });
      walk(row.pid);
    }
  };
  walk(root);
  return found;
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

describe("a signal sent to the README's command", () => {
  it.each([
    ["start", "SIGTERM"],
    ["gateway", "SIGINT"],
  ] as const)(
    "reaches imrelay through `pnpm imrelay %s` (%s): pnpm waits for it to stop, and nothing is left running",
    async (command, signal) => {
      const prefix = newPrefix();
      prefixes.push(prefix);
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), "imrelay-pnpm-"));
      const file = join(dir, "imrelay.config.yaml");
      writeFileSync(
        file,
        stringify({
          redis: { url: process.env.REDIS_URL ?? "redis://127.0.0.1:6379", prefix },
          gateway: { host: "127.0.0.1", port },
          tenants: { acme: { tencent: { sdkAppId: "1400000000" } } },
        }),
      );
      const pnpm = spawn("pnpm", ["imrelay", command], {
        cwd: ROOT,
        env: { ...process.env, IMRELAY_CONFIG: file },
        stdio: ["ignore", "pipe", "pipe"],
      });
      children.push(pnpm);
      const output: string[] = [];
      pnpm.stdout.on("data", (chunk: Buffer) => output.push(chunk.toString()));
      pnpm.stderr.on("data", (chunk: Buffer) => output.push(chunk.toString()));
      const exited = new Promise<number | null>((resolve) => pnpm.once("exit", (code) => resolve(code)));

      await waitFor(
        async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok,
        30_000,
        `pnpm imrelay ${command} to answer /healthz`,
      );
      // The node process itself, not a shell that may sit between pnpm and it.
      const relay = descendants(pnpm.pid!).find((p) => /^\S*node\s.*imrelay\.js/.test(p.args));
      expect(relay, output.join("")).toBeDefined();
      pids.push(relay!.pid);

      pnpm.kill(signal);
      const code = await Promise.race([exited, new Promise<"running">((r) => setTimeout(() => r("running"), 15_000))]);
      expect(code, output.join("")).toBe(0);
      expect(alive(relay!.pid)).toBe(false);
      expect(await portAnswers(port)).toBe(false);
      expect(output.join("")).toContain("shutting down");
    },
    60_000,
  );
});
