// Load client, run as its own process so it never shares a core's event loop
// with the server it measures. Sends distinct signed Tencent TimeOut callbacks
// with autocannon: for `duration` seconds, or exactly `amount` of them; with
// `overallRate`, at that many requests/s over all connections (a steady offered load).
// Config: JSON in BENCH_CLIENT. Prints one JSON line with the result.
import { performance } from "node:perf_hooks";
import autocannon from "autocannon";
import { latencySummary } from "./lib/stats.mjs";
import { callbacks } from "./lib/tencent.mjs";

const cfg = JSON.parse(process.env.BENCH_CLIENT);
const { url, connections = 50, tag = `b${Date.now().toString(36)}`, deadlineMs = 2000, timeout = 10 } = cfg;

function load({ duration, amount, tag: runTag, record }) {
  const source = callbacks({ tag: runTag, action: cfg.action, reason: cfg.reason });
  const latencies = new Float64Array(amount ?? 2_000_000);
  const doneAt = new Float64Array(latencies.length);
  let n = 0;
  const statuses = {};
  let overDeadline = 0;
  let firstNon2xx;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const cpu = process.cpuUsage();
    const instance = autocannon(
      {
        url,
        connections,
        ...(amount ? { amount } : { duration }),
        ...(cfg.overallRate ? { overallRate: cfg.overallRate } : {}),
        timeout,
        method: "POST",
        headers: { "content-type": "application/json" },
        requests: [
          {
            method: "POST",
            setupRequest(req) {
              const { path, body } = source.next();
              return { ...req, path, body };
            },
            onResponse(status, body) {
              if ((status < 200 || status > 299) && firstNon2xx === undefined)
                firstNon2xx = `${status} ${body}`.slice(0, 300);
            },
          },
        ],
      },
      (err, result) => {
        if (err) return reject(err);
        const elapsedS = (performance.now() - started) / 1000;
        const used = process.cpuUsage(cpu);
        const ok = Object.entries(statuses).reduce((s, [code, c]) => (code.startsWith("2") ? s + c : s), 0);
        resolve({
          sent: source.count,
          responses: Object.values(statuses).reduce((a, b) => a + b, 0),
          ok,
          statuses,
          firstNon2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          elapsedS,
          okPerSecond: ok / elapsedS,
          overDeadline,
          deadlineMs,
          latencyMs: record ? latencySummary(latencies, n) : undefined,
          timeline: record && cfg.timeline ? timeline(latencies, doneAt, n, started) : undefined,
          clientCpuS: (used.user + used.system) / 1e6,
        });
      },
    );
    instance.on("response", (_client, statusCode, _bytes, responseTime) => {
      statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
      if (responseTime > deadlineMs) overDeadline++;
      if (n < latencies.length) {
        doneAt[n] = performance.now();
        latencies[n++] = responseTime;
      }
    });
  });
}

/** Per second of the run: responses, and their latency p50/p99/max — shows a slow start or a stall. */
function timeline(latencies, doneAt, n, started) {
  const buckets = [];
  for (let i = 0; i < n; i++) {
    const s = Math.floor((doneAt[i] - started) / 1000);
    if (!buckets[s]) buckets[s] = [];
    buckets[s].push(latencies[i]);
  }
  return Array.from(buckets, (b, s) => {
    const sum = b ? latencySummary(Float64Array.from(b)) : { count: 0 };
    return { s, count: sum.count, p50: sum.p50, p99: sum.p99, max: sum.max };
  });
}

if (cfg.warmup > 0) await load({ duration: cfg.warmup, tag: `${tag}-w`, record: false });
if (cfg.marker) console.log(JSON.stringify({ measuring: true }));
const result = await load({ duration: cfg.duration, amount: cfg.amount, tag, record: true });
console.log(JSON.stringify({ result }));
