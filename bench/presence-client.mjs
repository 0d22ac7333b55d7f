// Load client of the batch presence query (`POST /v1/tenants/:tenant/presence/query`), run as its own
// process: each query asks for `batch` users out of the `users` the run seeded (`<tag>-u<i>`), a
// different window each time, for `duration` seconds over `connections` keep-alive connections.
// Config: JSON in BENCH_CLIENT. Prints one JSON line with the result.
import { performance } from "node:perf_hooks";
import autocannon from "autocannon";
import { latencySummary } from "./lib/stats.mjs";

const cfg = JSON.parse(process.env.BENCH_CLIENT);
const { url, tenant, token, tag, users, batch = 1000, connections = 10, timeout = 10 } = cfg;

/** The bodies, built before the clock starts: each a window of `batch` seeded users, wrapping around. */
const windows = Math.max(1, Math.ceil(users / batch));
const bodies = Array.from({ length: windows }, (_, w) =>
  JSON.stringify({ userIds: Array.from({ length: batch }, (_, i) => `${tag}-u${(w * batch + i) % users}`) }),
);

function load({ duration, record }) {
  const latencies = new Float64Array(2_000_000);
  let n = 0;
  let sent = 0;
  const statuses = {};
  let firstNon2xx;
  let usersAnswered = 0;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const cpu = process.cpuUsage();
    const instance = autocannon(
      {
        url: `${url}/v1/tenants/${tenant}/presence/query`,
        connections,
        duration,
        timeout,
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        requests: [
          {
            method: "POST",
            setupRequest(req) {
              return { ...req, body: bodies[sent++ % bodies.length] };
            },
            onResponse(status, body) {
              if (status === 200) {
                // A cheap check that the whole batch came back: one "userId" per user asked for.
                usersAnswered += body.split('"userId":').length - 1;
              } else if (firstNon2xx === undefined) firstNon2xx = `${status} ${body}`.slice(0, 300);
            },
          },
        ],
      },
      (err, result) => {
        if (err) return reject(err);
        const elapsedS = (performance.now() - started) / 1000;
        const used = process.cpuUsage(cpu);
        const ok = statuses[200] ?? 0;
        resolve({
          sent,
          responses: Object.values(statuses).reduce((a, b) => a + b, 0),
          ok,
          statuses,
          firstNon2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          elapsedS,
          okPerSecond: ok / elapsedS,
          usersPerSecond: usersAnswered / elapsedS,
          usersPerQuery: ok ? usersAnswered / ok : 0,
          latencyMs: record ? latencySummary(latencies, n) : undefined,
          clientCpuS: (used.user + used.system) / 1e6,
        });
      },
    );
    instance.on("response", (_client, statusCode, _bytes, responseTime) => {
      statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
      if (n < latencies.length) latencies[n++] = responseTime;
    });
  });
}

if (cfg.warmup > 0) await load({ duration: cfg.warmup, record: false });
console.log(JSON.stringify({ measuring: true }));
const result = await load({ duration: cfg.duration, record: true });
console.log(JSON.stringify({ result }));
