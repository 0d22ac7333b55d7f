import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createServer, Socket } from "node:net";
import type { Logger } from "pino";

export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";

/** True when something answers a Redis PING at host:port within `timeoutMs`. */
export function redisAnswers(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let buffer = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("error", () => done(false));
    socket.on("data", (chunk) => {
      buffer += chunk.toString();
      // +PONG, or -NOAUTH / -ERR from a Redis that wants a password: either way it is a Redis.
      if (buffer.includes("\r\n")) done(buffer.startsWith("+PONG") || buffer.startsWith("-"));
    });
    socket.connect(port, host, () => socket.write("PING\r\n"));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

export class RedisUnavailableError extends Error {
  readonly code = "REDIS_UNAVAILABLE";
}

export interface PrivateRedis {
  url: string;
  child?: ChildProcess;
  stop(): Promise<void>;
}

/**
 * The contract's Redis default: use 127.0.0.1:6379 when it answers; else
 * start a private `redis-server` child (nothing on disk, gone when imrelay
 * stops) when one is on the PATH; else explain how to get Redis.
 */
export async function ensureRedis(
  logger: Logger,
  { port: defaultPort = 6379, command = "redis-server" }: { port?: number; command?: string } = {},
): Promise<PrivateRedis> {
  const none = async () => {};
  if (await redisAnswers("127.0.0.1", defaultPort)) return { url: `redis://127.0.0.1:${defaultPort}`, stop: none };
  const found = spawnSync(command, ["--version"], { stdio: "ignore" });
  if (found.error || found.status !== 0) {
    throw new RedisUnavailableError(
      `Nothing answers at redis://127.0.0.1:${defaultPort} and no ${command} is on the PATH.\n` +
        "Install Redis 7 (Debian/Ubuntu: `apt-get install redis-server`, macOS: `brew install redis`) and start it,\n" +
        "or point imrelay at one with REDIS_URL=redis://host:port (or redis.url in the config file).",
    );
  }
  const port = await freePort();
  const child = spawn(
    command,
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
    { stdio: "ignore" },
  );
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50; i++) {
    if (child.exitCode !== null) break;
    if (await redisAnswers("127.0.0.1", port, 200)) {
      logger.warn(
        { url },
        `no Redis at 127.0.0.1:${defaultPort}: started a private redis-server child; its data is gone when imrelay stops (set REDIS_URL for a real one)`,
      );
      return {
        url,
        child,
        stop: () =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once("exit", () => resolve());
            child.kill("SIGTERM");
          }),
      };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGKILL");
  throw new RedisUnavailableError(`redis-server did not start on port ${port}`);
}
