// The same loop as undici-deliver.mjs one level down: undici's `dispatch` with a bare handler
// (no Readable stream, no request wrapper per answer), the API the worker itself sends with.
// Shown beside the raw HTTP ceiling so the report says how far below undici's own floor the
// worker is, not only below `undici.request`. Prints one JSON line: count, ok, failed, elapsedMs.
import { Agent } from "undici";
import { drive, loadBodies, signer } from "./deliveries.mjs";

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

const result = await drive(deliveries, Number(CONCURRENCY), async ({ id, body }) => {
  const status = await post(sign(id, body), body);
  return status >= 200 && status < 300;
});
await dispatcher.close();
console.log(JSON.stringify(result));
