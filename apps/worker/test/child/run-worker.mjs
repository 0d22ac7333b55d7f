// Runs a worker in its own process, so a test can kill it with SIGKILL mid-delivery.
// Reads the config from IMRELAY_TEST_CONFIG (JSON); prints "ready" once started.
import { pino } from "pino";
import { Registry } from "prom-client";
import { startWorker } from "../../dist/index.js";

const config = JSON.parse(process.env.IMRELAY_TEST_CONFIG ?? "{}");
await startWorker({
  config,
  logger: pino({ level: "silent" }),
  registry: new Registry(),
  dispatcher: { blockMs: 200 },
});
process.stdout.write("ready\n");
