const num = (x, d = 0) =>
  x === null || x === undefined || !Number.isFinite(x)
    ? "–"
    : x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
const ms = (x) => (x === null || x === undefined ? "–" : `${num(x, x < 10 ? 2 : 1)} ms`);
const mib = (bytes) => (Number.isFinite(bytes) ? `${num(bytes / 2 ** 20, 1)} MiB` : "–");
const verdict = (t) => (t ? (t.pass ? "**PASS**" : "**MISS**") : "–");
const pct = (x) => (Number.isFinite(x) ? `${Math.round(x * 100)} %` : "–");
/** A share of the cores' time stolen, as a percentage (none read: "–"; a null times 100 would be 0). */
const stolenPct = (x, d = 2) => (x === null || x === undefined ? "–" : `${num(x * 100, d)} %`);

function ingest(s) {
  if (s.error) return `## 1. Ingest\n\nFailed: \`${s.error}\`\n`;
  const { runs } = s;
  const bare = runs.bare?.okPerSecond;
  const row = (r) =>
    r.error
      ? `| ${r.label} | failed: ${r.error.split("\n")[0]} | | | | | | | | | | |`
      : `| ${r.label} | ${num(r.okPerSecond)} | ${num(r.okPerSecond / bare, 2)}× | ${ms(r.latencyMs.p50)} | ${ms(r.latencyMs.p99)} | ${ms(r.latencyMs.max)} | ${num(r.responses - r.ok + r.errors)} | ${pct(r.serverCpu)} | ${pct(r.redisCpu)} | ${pct(r.clientCpu)} | ${pct(r.foreignCpu)} | ${mib(r.peakRss)} |`;
  return `## 1. Ingest

Signed Tencent \`State.StateChange\` callbacks, every body distinct, ${s.connections} keep-alive connections,
${s.durationS} s measured after a ${s.warmupS} s warm-up, each server alone on a freshly flushed Redis (no worker running).
The servers take turns over ${s.allRounds?.bare?.length ?? s.rounds} round(s), in reverse order every other round; each row is that server's median
round (by rate; of an even number, the slower middle one), all rounds are listed below the table, and the target is judged on each server's rate pooled over every
round (all callbacks ÷ all measured time)${
    s.stolenLimit === undefined
      ? ""
      : ` but the disturbed ones: a round in which the hypervisor took more than ${stolenPct(s.stolenLimit, 1)} of the cores'
time (steal, from \`/proc/stat\`) in bare's or imrelay's measured window is listed, left out and run again, up to as many rounds again${
          s.judgedClean === false ? " (every round was disturbed here: all are judged)" : ""
        }`
  }. Ack latency is client-side, from request written to response read. CPU is per process in % of one core
over the measured window; "other CPU" is whatever else the machine ran meanwhile (it disturbs the numbers).

| server | callbacks/s | vs bare | ack p50 | ack p99 | ack max | non-2xx/errors | server CPU | Redis CPU | client CPU | other CPU | server peak RSS |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${[runs.bare, runs.express, runs.imrelay, runs.compare].filter(Boolean).map(row).join("\n")}

Every round, callbacks/s (other CPU${s.stolenLimit === undefined ? "" : ", stolen"}): ${Object.entries(
    s.allRounds ?? {},
  )
    .map(
      ([key, list]) =>
        `${key} ${list
          .map(
            (r) =>
              `${num(r.okPerSecond)} (${pct(r.foreignCpu)}${r.stolen === undefined || r.stolen === null ? "" : `, ${stolenPct(r.stolen)}`}${r.disturbed ? ", **disturbed**" : ""})`,
          )
          .join(", ")}`,
    )
    .join("; ")}.${
    s.pooled
      ? ` Pooled over the rounds: ${Object.entries(s.pooled)
          .map(([key, rate]) => `${key} ${rate > 0 ? `${num(rate)}/s` : "failed"}`)
          .join(", ")}.`
      : ""
  }

| target | measured | |
|---|---|---|
| throughput ≥ 0.8× bare node:http${s.pooled ? " (rates pooled over the rounds)" : ""} | ${num(s.ratioToBare, 2)}× (${num(s.ratioToExpress, 2)}× Express) | ${verdict(s.targets.throughput)} |
| ack p99 < 25 ms | ${ms(runs.imrelay?.latencyMs?.p99)} | ${verdict(s.targets.p99)} |
`;
}

function delivery(s) {
  if (s.error) return `## 2. Delivery\n\nFailed: \`${s.error}\`\n`;
  const { imrelay: w, baseline: b } = s;
  return `## 2. Delivery

${num(s.accepted)} events queued through the gateway with no worker running, then one \`imrelay worker\`
(concurrency ${s.concurrency}) drains them to the loopback sink. The baseline posts the very same signed bodies
(captured by the sink) at the same concurrency, in the same run: plain \`fetch\`; the raw HTTP ceiling, an \`undici\`
request loop signing each body (node:crypto HMAC, Standard Webhooks) with no queue; and the queue ceiling, bare BullMQ
doing the relay's queue work (\`addBulk\` of 100 while one Worker at the same concurrency signs and posts with undici).
The worker posts with undici's lower-level \`dispatch\` (no stream per answer); the same loop on \`dispatch\` is shown too, as
the floor of that API, with no target.
Rate = deliveries ÷ (last − first arrival at the sink).

| sender | deliveries/s | imrelay ÷ it | delivered | duplicates | first → last | worker start → last |
|---|---:|---:|---:|---:|---:|---:|
| imrelay worker | ${num(w.perSecond)} | 1.00× | ${num(w.delivered)} | ${num(w.duplicates)} | ${num(w.spanS, 2)} s | ${num(w.fromWorkerStartS, 2)} s |
| plain fetch (${b.source} bodies) | ${num(b.perSecond)} | ${num(s.ratio, 2)}× | ${num(b.delivered)} | – | ${num(b.spanS, 2)} s | – |
| raw HTTP ceiling: undici loop, signing, no queue | ${num(s.rawHttp?.perSecond)} | ${num(s.ratioRawHttp, 2)}× | ${num(s.rawHttp?.delivered)} | – | ${num(s.rawHttp?.spanS, 2)} s | – |
| queue ceiling: bare BullMQ, addBulk 100 + one Worker, undici | ${num(s.queue?.perSecond)} | ${num(s.ratioQueue, 2)}× | ${num(s.queue?.delivered)} | – | ${num(s.queue?.spanS, 2)} s | – |${s.rawDispatch ? `\n| undici \`dispatch\` loop, signing, no queue (no target: the worker's own API) | ${num(s.rawDispatch.perSecond)} | ${num(s.ratioRawDispatch, 2)}× | ${num(s.rawDispatch.delivered)} | – | ${num(s.rawDispatch.spanS, 2)} s | – |` : ""}${s.compare ? `\n| imrelay worker, compare build (\`--compare\`) | ${num(s.compare.perSecond)} | ÷ queue ${num(s.compare.ratioQueue, 2)}×, ÷ raw ${num(s.compare.ratioRawHttp, 2)}× | ${num(s.compare.delivered)} | ${num(s.compare.duplicates)} | ${num(s.compare.spanS, 2)} s | – |` : ""}

| target | measured | |
|---|---|---|
| throughput ≥ 0.8× fetch | ${num(s.ratio, 2)}× | ${verdict(s.targets.throughput)} |
| throughput ≥ 1.0× the queue ceiling${pooledOver(s)} | ${num(s.ratioQueue, 2)}× | ${verdict(s.targets.queueCeiling)} |
| throughput ≥ 0.5× the raw HTTP ceiling${pooledOver(s)} | ${num(s.ratioRawHttp, 2)}× | ${verdict(s.targets.rawHttpCeiling)} |
${deliveryRounds(s)}
CPU per delivery while deliveries flow: worker ${num(w.workerUsPerDelivery, 1)} µs, Redis ${num(w.redisUsPerDelivery, 1)} µs.

Redis memory: ${num(s.redis.bytesPerQueuedEvent)} B per queued event (stream entry + dedupe key + presence hash, worker stopped);
${num(s.redis.bytesPerEventAfterDrain)} B per event still held after the drain (24 h dedupe keys, presence, ${num(s.redis.completedJobsKept)} completed jobs and ${num(s.redis.deliveredLogKept)} delivered-log records kept).
`;
}

/** " (rates pooled over n rounds)", when the section ran more than one. */
const pooledOver = (s) =>
  s.rounds?.length > 1 ? ` (rates pooled over ${s.rounds.length} rounds, the worker's from round 2)` : "";

/** The worker and the two ceilings, round by round, and what the targets are judged on. */
function deliveryRounds(s) {
  if (!(s.rounds?.length > 1)) return "";
  return `
The worker and the two ceilings run ${s.rounds.length} times (round 1 is the table above; the worker runs first in odd
rounds, last in even ones), and the targets are judged on the rates pooled over the rounds (all deliveries ÷ all first
→ last time, per sender): every round for the ceilings, rounds 2 on for the worker (in round 1 its sink also keeps every
body, for the baselines to replay): imrelay ${num(s.pooled.imrelay)}/s, raw HTTP ceiling ${num(s.pooled.rawHttp)}/s,
queue ceiling ${num(s.pooled.queue)}/s. Every round (imrelay; raw HTTP ceiling, ÷; queue ceiling, ÷): ${s.rounds
    .map(
      (r) =>
        `${num(r.imrelay)}/s; ${num(r.rawHttp)}/s, ${num(r.ratioRawHttp, 2)}×; ${num(r.queue)}/s, ${num(r.ratioQueue, 2)}×${r.duplicates ? ` (${num(r.duplicates)} twice)` : ""}`,
    )
    .join(" | ")}.
`;
}

function slowest(timeline) {
  const worst = (timeline ?? []).filter((t) => t.count).sort((a, b) => b.max - a.max)[0];
  return worst ? `second ${worst.s}: ${num(worst.count)} acks, p99 ${ms(worst.p99)}, max ${ms(worst.max)}` : "–";
}

function storm(s, perQueued) {
  if (s.error) return `## 3. Storm\n\nFailed: \`${s.error}\`\n`;
  const statuses = Object.entries(s.statuses ?? {})
    .map(([code, count]) => `${code}: ${num(count)}`)
    .join(", ");
  return `## 3. Storm

${num(s.callbacks)} Tencent \`Disconnect/TimeOut\` callbacks (distinct users) as fast as the client sends them over
${s.connections} connections, with \`imrelay gateway\` and \`imrelay worker\` running as separate processes. ${
    s.warmupS
      ? `The gateway
is warmed first by ${s.warmupS} s of callbacks at ${s.warmupConnections} connections (delivered, then the sink's count is reset),
as a storm hits a gateway that has been running; the storm's ${s.connections} connections are new.`
      : "The gateway is cold: the storm is the first traffic it serves (`--cold-storm`)."
  }

| measure | value | target |
|---|---|---|
| answered | ${num(s.answered)} of ${num(s.callbacks)} (${statuses}); ${num(s.errors)} errors, ${num(s.timeouts)} timeouts | |
| answered within 2 s | ${num(s.ok - s.overDeadline)} OK within 2 s, ${num(s.overDeadline)} slower | ${verdict(s.targets.answered)} |
| ack latency | p50 ${ms(s.latencyMs.p50)}, p99 ${ms(s.latencyMs.p99)}, max ${ms(s.latencyMs.max)} | |
| gateway's own ack time (\`imrelay_callback_ack_seconds\`) | ${s.serverAck ? `${num(s.serverAck.over100ms)} over 0.1 s, ${num(s.serverAck.over1s)} over 1 s, ${num(s.serverAck.over2s)} over 2 s (of ${num(s.serverAck.total)})` : "–"} | |
| slowest second of the storm | ${slowest(s.timeline)} | |
| send rate | ${num(s.okPerSecond)} callbacks/s (${num(s.sendS, 1)} s) | |
| drain rate | ${num(s.drainPerSecond)} delivered/s from the first callback to the last delivery = ${num(s.drainRatio, 2)}× the ack rate | ${verdict(s.targets.drain)} |
| delivered (unique \`webhook-id\`) | ${num(s.delivered)}; duplicates ${num(s.duplicates)}; missing ${num(s.missing)} | ${verdict(s.targets.exactlyOnce)} |
| time to drain | ${num(s.drainFromFirstS, 1)} s from the first callback, ${num(s.drainAfterLastAckS, 1)} s after the last ack | |
| peak RSS | gateway ${mib(s.gatewayPeakRss)}, worker ${mib(s.workerPeakRss)} | |
| Redis memory | ${perQueued ? `${num(perQueued)} B per queued event (worker stopped, section 2); ` : ""}peak ${mib(s.redisPeakBytes)} during the storm; ${mib(s.redisBytesAfterDrain)} after the drain (${num(s.redisBytesAfterDrain / s.delivered)} B per event) | |
| CPU while sending | gateway ${pct(s.cpu.gateway)}, worker ${pct(s.cpu.worker)}, Redis ${pct(s.cpu.redis)}, client ${pct(s.cpu.client)}, other ${pct(s.cpu.other)} | |
`;
}

function presence(s) {
  if (s.error) return `## 4. Batch presence\n\nFailed: \`${s.error}\`\n`;
  const statuses = Object.entries(s.statuses ?? {})
    .map(([code, count]) => `${code}: ${num(count)}`)
    .join(", ");
  return `## 4. Batch presence

\`POST /v1/tenants/:tenant/presence/query\` with ${num(s.batch)} user ids per query (each query a different window of
${num(s.users)} users seeded online through Tencent callbacks), ${s.connections} keep-alive connections, ${s.durationS} s
measured after a warm-up, \`imrelay gateway\` alone (no worker). Latency is client-side.

| batch presence | queries/s | users/s | p50 | p99 | max | answered | gateway CPU | Redis CPU | client CPU | other CPU |
|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|
| ${num(s.batch)} users per query | ${num(s.okPerSecond)} | ${num(s.usersPerSecond)} | ${ms(s.latencyMs.p50)} | ${ms(s.latencyMs.p99)} | ${ms(s.latencyMs.max)} | ${statuses}; ${num(s.errors)} errors; ${num(s.usersPerQuery)} users per answer | ${pct(s.gatewayCpu)} | ${pct(s.redisCpu)} | ${pct(s.clientCpu)} | ${pct(s.foreignCpu)} |
${s.firstNon2xx ? `\nFirst non-200: \`${s.firstNon2xx}\`\n` : ""}`;
}

/** Active jobs at the end of an isolation run: delivery jobs, batch jobs (a number alone: from a report before batch queues). */
const active = (a) => (typeof a === "object" && a ? `${num(a.deliveries)} + ${num(a.batches)} batches` : num(a));

/**
 * CPU µs per fast delivery over an isolation run (the slow endpoint's work included): the worker (its
 * main thread + helper threads), the fast sink, the slow sink, Redis, the machine. Reports from before
 * the split have the worker whole and no sinks: those parts are left out.
 */
function cpu(c) {
  if (!c) return "–";
  const us = (x) => (x === null ? "–" : `${num(x, 1)} µs`);
  const worker =
    c.workerMain === undefined
      ? us(c.worker)
      : `${us(c.worker)} (${num(c.workerMain, 1)} + ${num(c.workerHelpers, 1)})`;
  const parts = [worker, c.sink, c.slowSink, c.redis, c.machine];
  return parts
    .map((part, i) => (i === 0 ? part : part === undefined ? undefined : us(part)))
    .filter((part) => part !== undefined)
    .join(", ");
}

/** Which isolation rounds the target was judged on: all, or those the hypervisor did not disturb. */
function judgedRounds(s) {
  const all = s.rounds?.length ?? 1;
  const disturbed = s.rounds?.filter((r) => r.disturbed).length ?? 0;
  if (disturbed === 0) return `${all} round${all > 1 ? "s" : ""}`;
  if (!s.judgedClean) return `all ${all} rounds, every one disturbed`;
  return `the ${all - disturbed} undisturbed of ${all} rounds`;
}

/** A round's stolen shares, alone | with slow, for the list of rounds. */
const stolen = (r) =>
  r.stolen ? `; stolen ${r.stolen.map((x) => stolenPct(x)).join(" | ")}${r.disturbed ? ", **disturbed**" : ""}` : "";

function isolation(s) {
  if (s.error) return `## 5. Head-of-line isolation\n\nFailed: \`${s.error}\`\n`;
  const { alone: a, withSlow: w } = s;
  const fastCell = (r) =>
    `${num(r.fast.steady?.perSecond)} | ${num(r.fast.perSecond)} | ${num(r.fast.delivered)} of ${num(r.accepted)} | ${num(r.fast.spanS, 2)} s${r.fast.drained ? "" : " (window)"}`;
  return `## 5. Head-of-line isolation
${s.control ? "\n**Control run (`--isolation-control`): both sides run the fast endpoint alone; the ratio is the machine's noise, not a result.**\n" : ""}
One tenant, two endpoints: \`fast\` (the main sink, answers at once) and \`slow\` (a sink of its own, another origin,
answering ${num(s.slowMs)} ms after the body arrived). ${num(s.events)} events queued with no worker running, then one
\`imrelay worker\` (concurrency ${s.concurrency}) drains them; first with \`fast\` the only endpoint, then with both (each
event goes to each). The fast endpoint's steady rate is its deliveries from ${num(s.settleS, 1)} s after its first one (the
worker's start runs cold code, in both runs alike) to its last, or, when it has not got them all within ${s.windowS} s of its
first delivery, to the end of those ${s.windowS} s, ÷ that time; the whole rate counts from the first delivery (the
ratio of whole rates: ${num(s.wholeRatio, 3)}×). First attempts go out straight from the stream,
one endpoint holding its share of the slots, \`delivery.endpointConcurrency\` (half; all but a tenth while it answers
briskly); once \`slow\` is found slow its deliveries go to the queue in batch jobs (a queue of their own), sent by the
workers ("jobs active at the end": delivery and batch jobs), and with its last answer slow (and \`fast\` busy) it keeps one first attempt out.

| run | fast steady deliveries/s | fast whole deliveries/s | fast delivered | over | slow received/s | jobs active at the end | CPU per fast delivery: worker (main thread + helper threads), fast sink, slow sink, Redis, machine |
|---|---:|---:|---:|---:|---:|---:|---:|
| fast alone | ${fastCell(a)} | – | ${active(a.activeAtEnd)} | ${cpu(a.cpuPerFastUs)} |
| fast and slow | ${fastCell(w)} | ${num(w.slow?.perSecond, 1)} (${num(w.slow?.received)} in ${num(w.slow?.spanS, 1)} s) | ${active(w.activeAtEnd)} | ${cpu(w.cpuPerFastUs)} |

| target | measured | |
|---|---|---|
| fast endpoint with the slow one ≥ 0.9× alone (steady rates pooled over ${judgedRounds(s)}) | ${num(s.ratio, 3)}× | ${verdict(s.targets.fastRate)} |
${
  s.rounds && s.rounds.length > 1
    ? `\nEach round runs the two back to back, every other round the slow one first (alone, slow | slow, alone | …), so a
machine whose speed drifts weighs on both sides alike; the table shows the first round judged. The target is judged on the steady rates
pooled over the rounds (all steady deliveries ÷ all steady time, per side): ${num(s.pooled?.alone)} → ${num(s.pooled?.withSlow)}/s.${
        s.stolenLimit === undefined
          ? ""
          : ` A round is disturbed when the hypervisor took more than ${stolenPct(s.stolenLimit, 1)} of the cores' time (steal, read from
\`/proc/stat\`) in either of its steady windows; it stays listed, and another round is run in its place (up to as many
again). Every round pooled, the disturbed ones too: ${num(s.ratioAllRounds, 3)}×.`
      }
Every round (steady alone → with slow; worker CPU per fast delivery${s.rounds[0]?.helpersUs ? ", of it its helper threads'; over the steady window only, the machine's and the fast sink's (the same work on both sides: how fast the machine ran)" : ""}): ${s.rounds
        .map(
          (r) =>
            `${num(r.alone)} → ${num(r.withSlow)}/s (${num(r.ratio, 3)}×; whole ${num(r.wholeRatio, 3)}×${r.workerUs ? `; ${r.workerUs[0]} → ${r.workerUs[1]} µs` : ""}${r.helpersUs ? `; helpers ${r.helpersUs[0]} → ${r.helpersUs[1]} µs` : ""}${r.steadyUs?.[0] && r.steadyUs[1] ? `; steady machine ${r.steadyUs[0].machine} → ${r.steadyUs[1].machine} µs, sink ${r.steadyUs[0].sink} → ${r.steadyUs[1].sink} µs` : ""}${stolen(r)})`,
        )
        .join("; ")}.${s.medianRatio === undefined ? "" : ` The median round judged: ${num(s.medianRatio, 3)}×.`}${
        s.speedAdjusted
          ? `\nNo target: each round's ratio times its fast sink's steady CPU per delivery beside ÷ alone, the machine's
speed alone ÷ beside as the sink's same work tells it (the sink also shares the cores with what the slow endpoint costs,
so this leans the relay's way): ${s.speedAdjusted.rounds.map((ratio) => `${num(ratio, 3)}×`).join(", ")} (median ${num(s.speedAdjusted.median, 3)}×).`
          : ""
      }\n`
    : ""
}`;
}

function rateLimit(s) {
  if (s.error) return `## 6. Per-endpoint rate limit\n\nFailed: \`${s.error}\`\n`;
  const { alone: a, withLimited: w } = s;
  const row = (run, label, e) =>
    e
      ? `| ${run} | ${label} | ${num(e.perSecond, 1)} | ${num(e.minSecond)}–${num(e.maxSecond)} | ${num(e.inWindow)} | ${num(e.shareOfAnswered, 2)} | ${num(e.delivered)} |`
      : "";
  return `## 6. Per-endpoint rate limit

One tenant, ${s.workers} \`imrelay worker\` processes (concurrency ${s.concurrency} each), ${num(s.offered)} callbacks/s offered
steadily for ${s.durationS} s (autocannon \`overallRate\`, not a backlog: throttled jobs re-enter BullMQ's wait list at
the back). First \`open\` (unthrottled, the main sink) alone; then each event also to \`limited\`
(\`rateLimit: { perSecond: ${s.perSecond} }\`, a sink of its own). Rates are the mean deliveries per whole second
from ${s.settleS} s after the load started to its end (${num(w.windowS)} s), read from the sinks' arrival times; "per
second" is the fewest and most in one of those seconds. On a loaded machine the offered load itself sags (client
and gateway get less CPU), so each rate is also shown as a share of the callbacks answered in those same seconds:
the open endpoint is compared with itself alone on that share (its raw rate ratio is beside it).

| run | endpoint | deliveries/s | per second | in the window | ÷ answered | delivered by the end |
|---|---|---:|---:|---:|---:|---:|
${[row("open alone", "open", a.endpoints.open), row("open and limited", "open", w.endpoints.open), row("open and limited", "limited", w.endpoints.limited)].join("\n")}

Accepted ${num(a.accepted)} and ${num(w.accepted)} callbacks (${num(a.offeredPerSecond)}/s and ${num(w.offeredPerSecond)}/s;
${num(a.answeredPerSecond)}/s and ${num(w.answeredPerSecond)}/s in the window). Waits for a turn
(\`imrelay_deliveries_throttled_total\`, both workers): ${num(w.throttled)}, ${num(s.waitsPerLimitedJob, 2)} per limited job
(each waits once but the first; more are turns that came back over 200 ms late, given up, and taken again at the back).
CPU with both: gateway ${pct(w.cpu.gateway)}, workers ${w.cpu.workers.map(pct).join(" and ")}, Redis ${pct(w.cpu.redis)}, other ${pct(w.cpu.other)}.

| target | measured | |
|---|---|---|
| limited endpoint ${s.perSecond} ± 10 deliveries/s | ${num(s.limitedPerSecond, 1)}/s | ${verdict(s.targets.limited)} |
| open endpoint ≥ 0.9× alone (share of the callbacks answered) | ${num(s.openRatio, 2)}× (raw rate ${num(s.openRawRatio, 2)}×) | ${verdict(s.targets.open)} |
`;
}

function backlog(s) {
  if (s.error) return `## 7. Worker memory with a backlog\n\nFailed: \`${s.error}\`\n`;
  const row = (r) =>
    `| ${num(r.callbacks)} | ${num(r.backlog)} | ${mib(r.redisBytesQueued)} | ${mib(r.workerPeakRss)} | ${mib(r.workerRssAfter)} | ${num(r.perSecond)} | ${num(r.fromWorkerStartS, 1)} s | ${num(r.delivered)}, ${num(r.duplicates)} twice | ${pct(r.cpu.worker)}, ${pct(r.cpu.redis)}, ${pct(r.cpu.other)} |`;
  return `## 7. Worker memory with a backlog

Callbacks queued through the gateway with no worker running (the gateway is stopped then), then one \`imrelay worker\`
(concurrency 50 unless \`--delivery-concurrency\`) drains them to the sink. Peak RSS is the worker's \`VmHWM\` after the
drain; the rate is deliveries ÷ (last − first arrival). A tenth of the backlog is drained first, in the same run, to
compare: memory that grew with the backlog would show as a higher peak.

| backlog | stream entries | Redis memory queued | worker peak RSS | RSS after | deliveries/s | worker start → last | delivered | CPU worker, Redis, other |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${row(s.small)}
${row(s.big)}

| target | measured | |
|---|---|---|
| bounded: peak RSS draining ${num(s.big.callbacks)} ≤ 1.5× draining ${num(s.small.callbacks)} | ${num(s.peakRatio, 2)}× | ${verdict(s.targets.bounded)} |
| every accepted callback delivered once | ${num(s.big.delivered)} of ${num(s.big.accepted)}, ${num(s.big.duplicates)} twice | ${verdict(s.targets.delivered)} |
`;
}

function cluster(s) {
  if (s.error) return `## 8. Redis Cluster\n\nFailed: \`${s.error}\`\n`;
  const { ingest: i, storm: st, spread, cost } = s;
  const row = (label, r) =>
    `| ${label} | ${num(r.okPerSecond)} | ${ms(r.latencyMs?.p50)} | ${ms(r.latencyMs?.p99)} | ${pct(r.serverCpu)} | ${pct(r.redisCpu)}${r.redisCpuByNode?.length > 1 ? ` (${r.redisCpuByNode.map(pct).join(" + ")})` : ""} | ${pct(r.foreignCpu)} |`;
  const stormRow = (label, r) =>
    `| ${label} | ${num(r.okPerSecond)} | ${num(r.ok)} of ${num(r.callbacks)} | ${num(r.overDeadline)} | ${ms(r.latencyMs?.p99)} | ${num(r.delivered)} / ${num(r.duplicates)} / ${num(r.missing)} | ${num(r.drainAfterLastAckS, 1)} s | ${pct(r.cpu.redis)} | ${pct(r.cpu.other)} |`;
  return `## 8. Redis Cluster

The same gateway and worker against a local Redis Cluster of ${s.masters} masters (even slot ranges, no replicas,
persistence off) beside the single node, in the same run. Ingest alternates the two over ${s.rounds.single.length} round(s),
quietest round shown; the storm beside it is section 3's. On one machine a cluster cannot be faster than one node:
its masters share the same cores, and the client, gateway and worker keep theirs.

| ingest | callbacks/s | ack p50 | ack p99 | gateway CPU | Redis CPU | other CPU |
|---|---:|---:|---:|---:|---:|---:|
${row("single node", i.single)}
${row(`cluster, ${s.masters} masters`, i.cluster)}

| storm (${num(st.cluster.callbacks)} callbacks) | callbacks/s | answered 200 | over 2 s | ack p99 | delivered / duplicates / missing | drained after last ack | Redis CPU | other CPU |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
${stormRow("single node", st.single)}
${stormRow(`cluster, ${s.masters} masters`, st.cluster)}

Spread over the masters during the cluster storm: commands ${spread.commandShares.map(pct).join(" / ")}, keys held after it ${spread.keyShares.map(pct).join(" / ")}.

Cost of one callback (CPU, from the quietest ingest rounds): Redis ${num(cost.singleRedisUs, 1)} µs on the single node,
${num(cost.clusterRedisUsTotal, 1)} µs summed over the cluster's masters (${cost.clusterRedisUsPerMaster.map((x) => `${num(x, 1)} µs`).join(" + ")});
gateway ${num(cost.gatewayUs, 1)} µs (single node), ${num(cost.clusterGatewayUs, 1)} µs (cluster); worker ${num(cost.stormWorkerUs, 1)} µs per delivered event (cluster storm).

| target | measured | |
|---|---|---|
| ingest ≥ 0.7× single node | ${num(s.ingestRatio, 2)}× | ${verdict(s.targets.ingest)} |
| storm ≥ 0.7× single node, all answered and delivered | ${num(s.stormRatio, 2)}× | ${verdict(s.targets.storm)} |
| each master ≥ 20 % of keys and commands | ${verdict(s.targets.spread)} | |
`;
}

/** Each section's stolen share, ", by section: ingest 0.3 %, …" (nothing for a report without them). */
function stolenBySection(by) {
  const parts = Object.entries(by ?? {}).map(([name, share]) => `${name} ${stolenPct(share, 1)}`);
  return parts.length > 1 ? `; by section: ${parts.join(", ")}` : "";
}

/** The markdown report of one bench run. */
export function renderMarkdown(report) {
  const m = report.machine;
  const parts = [
    `# imrelay bench — ${report.startedAt.slice(0, 16).replace("T", " ")} UTC`,
    "",
    `Machine: ${m.cores} × ${m.cpu}, ${m.memoryGiB} GiB, ${m.platform}; Node ${m.node}; Redis ${m.redis} (private, persistence off).`,
    `Rerun: \`${report.command}\`. Client, servers, worker, sink and Redis are separate processes on the same ${m.cores} cores.${
      m.stolen === undefined || m.stolen === null
        ? ""
        : ` Over the run the hypervisor gave ${stolenPct(m.stolen, 1)} of the cores' time to other guests (steal, from \`/proc/stat\`: it slows every process here${stolenBySection(m.stolenBySection)}).`
    }`,
    "",
  ];
  if (report.ingest) parts.push(ingest(report.ingest));
  if (report.delivery) parts.push(delivery(report.delivery));
  if (report.storm) parts.push(storm(report.storm, report.delivery?.redis?.bytesPerQueuedEvent));
  if (report.presence) parts.push(presence(report.presence));
  if (report.isolation) parts.push(isolation(report.isolation));
  if (report.ratelimit) parts.push(rateLimit(report.ratelimit));
  if (report.backlog) parts.push(backlog(report.backlog));
  if (report.cluster) parts.push(cluster(report.cluster));
  return `${parts.join("\n")}`;
}
