#!/usr/bin/env node
// Runs a command with a Redis to talk to: REDIS_URL if set, else 127.0.0.1:6379 if it
// answers, else a private redis-server child (nothing on disk) that stops with the command.
// So `pnpm test` works on a machine where Redis is installed but not running.
import { spawn, spawnSync } from "node:child_process";
import { createServer, Socket } from "node:net";

const [cmd, ...args] = process.argv.slice(2);
if (!cmd) {
  console.error("usage: with-redis.mjs <command> [args…]");
  process.exit(2);
}

function answers(port) {
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(500, () => done(false));
    s.once("error", () => done(false));
    s.once("data", (d) => done(d.toString().startsWith("+PONG")));
    s.connect(port, "127.0.0.1", () => s.write("PING\r\n"));
  });
}

function freePort() {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const env = { ...process.env };
let redis;
if (!env.REDIS_URL && !(await answers(6379))) {
  if (spawnSync("redis-server", ["--version"], { stdio: "ignore" }).status !== 0) {
    console.error("Tests need Redis: nothing answers at 127.0.0.1:6379 and no redis-server is on the PATH.");
    console.error("Install Redis 7 (e.g. `apt-get install redis-server`) or set REDIS_URL.");
    process.exit(1);
  }
  const port = await freePort();
  redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: "ignore",
  });
  for (let i = 0; i < 50 && !(await answers(port)); i++) await new Promise((r) => setTimeout(r, 100));
  env.REDIS_URL = `redis://127.0.0.1:${port}`;
  console.log(`with-redis: no Redis at 127.0.0.1:6379, using a private redis-server at ${env.REDIS_URL}`);
}

const child = spawn(cmd, args, { stdio: "inherit", env });
const forward = (signal) => child.kill(signal);
process.on("SIGINT", forward);
process.on("SIGTERM", forward);
child.on("exit", (code, signal) => {
  redis?.kill("SIGKILL");
  process.exit(code ?? (signal ? 1 : 0));
});
