// Loopback webhook receiver for the bench: counts deliveries by `webhook-id`
// (unique and duplicate), stamps the first and last, checks a sample of
// signatures, and can keep every delivery so a baseline can replay the very
// same signed bodies, or every arrival time (to count deliveries per second in
// a window). SINK_DELAY_MS makes it answer that long after the body arrived (a
// slow endpoint). Control routes: GET /stats, GET /arrivals, POST
// /reset[?capture=1][&arrivals=1], POST /save?file=.
import { writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { performance } from "node:perf_hooks";
import { Webhook } from "standardwebhooks";

const secret = process.env.SINK_SECRET;
const verifyEvery = Number(process.env.SINK_VERIFY_EVERY ?? 100);
const delayMs = Number(process.env.SINK_DELAY_MS ?? 0);
const webhook = secret ? new Webhook(secret.replace(/^whsec_/, "")) : undefined;

let state;
function reset({ capture = false, arrivals = false } = {}) {
  state = {
    seen: new Map(),
    total: 0,
    unique: 0,
    duplicates: 0,
    missingId: 0,
    verified: 0,
    verifyFailures: 0,
    firstAt: null,
    lastAt: null,
    bytes: 0,
    capture: capture ? [] : null,
    arrivals: arrivals ? [] : null,
  };
}
reset();

const now = () => performance.timeOrigin + performance.now();

function stats() {
  const { seen: _seen, capture, arrivals: _arrivals, ...rest } = state;
  return { ...rest, captured: capture ? capture.length : 0 };
}

function json(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

const server = createServer((req, res) => {
  if (req.method === "GET" && req.url === "/stats") return json(res, 200, stats());
  // Arrival times (ms since the epoch) of every delivery since a reset with arrivals=1.
  if (req.method === "GET" && req.url === "/arrivals") return json(res, 200, state.arrivals ?? []);
  if (req.method === "POST" && req.url.startsWith("/reset")) {
    const query = new URL(req.url, "http://x").searchParams;
    reset({ capture: query.get("capture") === "1", arrivals: query.get("arrivals") === "1" });
    return json(res, 200, stats());
  }
  if (req.method === "POST" && req.url.startsWith("/save")) {
    const file = new URL(req.url, "http://x").searchParams.get("file");
    const lines = (state.capture ?? []).map((d) => JSON.stringify(d));
    writeFileSync(file, lines.length ? `${lines.join("\n")}\n` : "");
    return json(res, 200, { saved: lines.length, file });
  }
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const at = now();
    const body = Buffer.concat(chunks).toString("utf8");
    const id = req.headers["webhook-id"];
    state.total++;
    state.bytes += body.length;
    state.firstAt ??= at;
    state.lastAt = at;
    state.arrivals?.push(at);
    if (typeof id !== "string" || id === "") state.missingId++;
    else {
      const n = state.seen.get(id) ?? 0;
      state.seen.set(id, n + 1);
      if (n === 0) state.unique++;
      else state.duplicates++;
    }
    // Checking every signature would make the sink the bottleneck; a sample proves they are right.
    if (webhook && verifyEvery > 0 && state.total % verifyEvery === 1) {
      try {
        webhook.verify(body, {
          "webhook-id": id,
          "webhook-timestamp": req.headers["webhook-timestamp"],
          "webhook-signature": req.headers["webhook-signature"],
        });
        state.verified++;
      } catch {
        state.verifyFailures++;
      }
    }
    state.capture?.push({
      headers: {
        "content-type": req.headers["content-type"],
        "webhook-id": id,
        "webhook-timestamp": req.headers["webhook-timestamp"],
        "webhook-signature": req.headers["webhook-signature"],
      },
      body,
    });
    if (delayMs > 0) {
      setTimeout(() => {
        res.writeHead(200, { "content-length": 0 });
        res.end();
      }, delayMs);
      return;
    }
    res.writeHead(200, { "content-length": 0 });
    res.end();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  console.log(JSON.stringify({ ready: true, port: server.address().port }));
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
