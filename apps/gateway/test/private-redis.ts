import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { createIngestRedis } from "../src/redis.js";

/** A free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/**
 * A `redis-server` of the test's own, for what must not happen to the shared
 * one: stopping it, making it slow, filling its memory. Resolves once it answers PING.
 */
export async function startRedis(port: number, args: string[] = []): Promise<ChildProcess> {
  const child = spawn(
    "redis-server",
    // A replica keeps the RDB it receives on disk unless told otherwise: keep it in the temp
    // directory (never the working tree) and load an empty replica straight from the socket.
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      tmpdir(),
      "--repl-diskless-load",
      "on-empty-db",
      ...args,
    ],
    { stdio: "ignore" },
  );
  const probe = createIngestRedis(`redis://127.0.0.1:${port}`);
  probe.on("error", () => {});
  try {
    for (let i = 0; i < 100; i++) {
      if ((await probe.ping().catch(() => "")) === "PONG") return child;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("redis-server did not start");
  } finally {
    probe.disconnect();
  }
}

/** Kills a `redis-server` started by {@link startRedis} and waits for it to exit. */
export function stopRedis(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}
