// The same loop as undici-deliver.mjs one level down: undici's `dispatch` with a bare handler
// (no Readable stream, no request wrapper per answer), the API the worker itself sends with.
// Shown beside the raw HTTP ceiling so the report says how far below undici's own floor the
// worker is, not only below `undici.request`. Prints one JSON line: count, ok, failed, elapsedMs.
import { performance } from "node:perf_hooks";
import { Agent } from "undici";
import { loadBodies, signer } from "./deliveries.mjs";

const { SINK_URL, CONCURRENCY = "50", SECRET } = process.env;
const deliveries = loadBodies(process.env);
const sign = signer(SECRET);
const dispatcher = new Agent({ connections: Number(CONCURRENCY) });
const { origin, pathname } = new URL(SINK_URL);

function post(headers, body) {
  return new Promise((resolve, reject) => {
    let status = 0;
    dispatcher.dispatch(
      { origin, path: pathname, method: "POST", headers, body },
      {
        // Its presence tells undici this is a handler of the current API (not the legacy one).
        onRequestStart() {},
        onResponseStart(_controller, statusCode) {
          status = statusCode;
        },
        onResponseData() {},
        onResponseEnd() {
          resolve(status);
        },
        onResponseError(_controller, err) {
          reject(err);
        },
      },
    );
  });
}

let next = 0;
let ok = 0;
let failed = 0;
async function lane() {
  while (next < deliveries.length) {
    const { id, body } = deliveries[next++];
    try {
      const status = await post(sign(id, body), body);
      if (status >= 200 && status < 300) ok++;
      else failed++;
    } catch {
      failed++;
    }
  }
}

const started = performance.now();
await Promise.all(Array.from({ length: Number(CONCURRENCY) }, lane));
const elapsedMs = performance.now() - started;
await dispatcher.close();
console.log(JSON.stringify({ count: deliveries.length, ok, failed, elapsedMs }));
