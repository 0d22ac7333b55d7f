import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

/** A free TCP port on loopback (closed again before it is returned). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts a child process and keeps the tail of its output for diagnostics.
 * `onLine` sees each stdout line (ready markers, JSON results).
 */
export function start(name, command, args, { env = {}, cwd, onLine } = {}) {
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const tail = [];
  const keep = (line) => {
    tail.push(line);
    if (tail.length > 40) tail.shift();
  };
  let buffered = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk) => {
    buffered += chunk;
    let i = buffered.indexOf("\n");
    while (i >= 0) {
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      keep(line);
      onLine?.(line);
      i = buffered.indexOf("\n");
    }
  });
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    for (const line of chunk.split("\n")) if (line) keep(`[stderr] ${line}`);
  });
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  return { name, child, pid: child.pid, tail, exited };
}

/** Resolves with the first stdout line that parses to JSON with `key`, or rejects when the process exits first. */
export function waitForJson(name, command, args, options = {}, key = "ready", timeoutMs = 30_000) {
  let resolveLine;
  const found = new Promise((r) => {
    resolveLine = r;
  });
  const proc = start(name, command, args, {
    ...options,
    onLine(line) {
      options.onLine?.(line);
      if (!line.startsWith("{")) return;
      try {
        const value = JSON.parse(line);
        if (value && key in value) resolveLine(value);
      } catch {}
    },
  });
  const timer = sleep(timeoutMs).then(() => {
    throw new Error(`${name} did not report "${key}" within ${timeoutMs} ms:\n${proc.tail.join("\n")}`);
  });
  const died = proc.exited.then(({ code, signal }) => {
    throw new Error(`${name} exited (${code ?? signal}) before reporting "${key}":\n${proc.tail.join("\n")}`);
  });
  return Promise.race([found, timer, died]).then((value) => ({ proc, value }));
}

/** Polls an HTTP URL until it answers 200. */
export async function waitForHttp(url, proc, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  proc?.exited.then(() => {
    exited = true;
  });
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${proc.name} exited before ${url} answered:\n${proc.tail.join("\n")}`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {}
    await sleep(100);
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms:\n${proc?.tail.join("\n") ?? ""}`);
}

/** SIGTERM, then SIGKILL after `graceMs`. */
export async function stop(proc, graceMs = 10_000) {
  if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill("SIGTERM");
  const killed = sleep(graceMs).then(() => {
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill("SIGKILL");
  });
  await Promise.race([proc.exited, killed]);
  await proc.exited;
}

/** Peak and current resident memory (bytes) of a live process, from /proc. */
export function memory(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN) * 1024;
    return { peakRss: kb("VmHWM"), rss: kb("VmRSS") };
  } catch {
    return { peakRss: Number.NaN, rss: Number.NaN };
  }
}

const TICKS = 100; // USER_HZ on Linux
/** CPU seconds (user + system) a live process has used so far. */
export function cpuSeconds(pid) {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/** User + system CPU seconds from a `/proc/…/stat` file (NaN when it cannot be read: not Linux, or gone). */
function statCpuSeconds(path) {
  try {
    const stat = readFileSync(path, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return Number.NaN;
  }
}

/**
 * CPU seconds (user + system) a live process's main thread has used so far (the rest of
 * `cpuSeconds` is its other threads: V8's compiler and collector helpers, libuv's pool).
 */
export function mainThreadCpuSeconds(pid) {
  return statCpuSeconds(`/proc/${pid}/task/${pid}/stat`);
}

/**
 * The machine's CPU seconds so far, all cores, from the first line of `/proc/stat`: `busy` is everything but
 * idle and iowait (steal included, as before: time the cores were not ours to use), `stolen` is steal alone —
 * time the hypervisor gave the cores to other guests while this one had work to run — and `total` is all of it.
 */
export function machineSeconds() {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0];
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    const busy = user + nice + system + irq + softirq + steal;
    return { busy: busy / TICKS, stolen: steal / TICKS, total: (busy + idle + iowait) / TICKS };
  } catch {
    return { busy: Number.NaN, stolen: Number.NaN, total: Number.NaN };
  }
}

/** CPU seconds the whole machine has been busy (all cores, everything but idle and iowait). */
export function machineBusySeconds() {
  return machineSeconds().busy;
}

/** The share of the cores' time stolen by the hypervisor between two `machineSeconds()` readings (NaN off Linux). */
export function stolenShare(from, to) {
  const total = to.total - from.total;
  return total > 0 ? (to.stolen - from.stolen) / total : Number.NaN;
}
