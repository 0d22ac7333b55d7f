import { parseArgs } from "node:util";

export const COMMANDS = ["start", "gateway", "worker", "check-config"] as const;
export type Command = (typeof COMMANDS)[number];

export const USAGE = `Usage: imrelay <command> [options]

Commands:
  start          gateway and worker in one process
  gateway        only the gateway (callback routes, presence, admin API)
  worker         only the delivery worker (run as many as you like)
  check-config   validate the config and print what it would run

Options:
  -c, --config <file>   the config file (else $IMRELAY_CONFIG, else ./imrelay.config.yaml)
  -p, --port <port>     the gateway's port (overrides gateway.port); a worker serves
                        /metrics and /healthz on it
      --partitions <list> (worker, start) serve only those partitions, e.g. 0-7
                        (default: all of them)
  -h, --help            print this help
  -v, --version         print imrelay's version

With no config file, 'start' runs a demo tenant whose endpoint is a built-in sink that logs what it receives.
REDIS_URL overrides redis.url, REDIS_CLUSTER_NODES (host:port,…) redis.cluster.nodes;
IMRELAY_ADMIN_TOKEN turns the admin API on.
SIGTERM or SIGINT stops it: new callbacks are refused, work in flight finishes or is handed back,
and it exits within shutdownTimeoutMs (default 10000); a second signal exits at once.
SIGHUP rereads the config file: its tenants and endpoints take effect without a restart; an invalid
file is logged with every bad field and the running config stays.`;

/** What the command line asks for. */
export type CliArgs =
  | { kind: "help" }
  | { kind: "version" }
  | { kind: "run"; command: Command; config?: string; port?: number; partitions?: string }
  /** A bad command line; `message` names what was wrong. */
  | { kind: "usage-error"; message: string };

/**
 * The option that a `node:util` parseArgs error is about, as a user typed it
 * (`--port`, not `-p, --port <value>`), and what was wrong with it.
 */
function parseError(err: unknown): string {
  const { code, message } = err as { code?: string; message: string };
  const quoted = /'([^']+)'/.exec(message)?.[1] ?? "";
  const name = quoted.split(/[ ,]+/).find((token) => token.startsWith("--")) ?? quoted.split(/[ ,]+/)[0] ?? quoted;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return `unknown option ${name}`;
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    return message.includes("does not take") ? `option ${name} takes no value` : `option ${name} needs a value`;
  }
  return message;
}

/**
 * Reads the command line. Never throws: a bad one comes back as a
 * `usage-error` naming the bad option or argument.
 *
 * @example
 * parseCliArgs(["start", "--port", "8080"]); // { kind: "run", command: "start", port: 8080 }
 * parseCliArgs(["start", "--prot", "8080"]); // { kind: "usage-error", message: "unknown option --prot" }
 */
export function parseCliArgs(argv: string[]): CliArgs {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    return { kind: "usage-error", message: parseError(err) };
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };
  const [command, ...rest] = positionals;
  if (command === undefined) return { kind: "usage-error", message: "no command given" };
  if (!(COMMANDS as readonly string[]).includes(command)) {
    return { kind: "usage-error", message: `unknown command "${command}"` };
  }
  if (rest.length > 0) return { kind: "usage-error", message: `unexpected argument "${rest[0]}"` };
  let port: number | undefined;
  if (values.port !== undefined) {
    port = /^\d+$/.test(values.port) ? Number(values.port) : Number.NaN;
    if (!(port >= 0 && port < 65536)) {
      return { kind: "usage-error", message: `--port must be a port number (0-65535), not "${values.port}"` };
    }
  }
  return {
    kind: "run",
    command: command as Command,
    ...(values.config !== undefined ? { config: values.config } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(values.partitions !== undefined ? { partitions: values.partitions } : {}),
  };
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: "string", short: "c" },
      port: { type: "string", short: "p" },
      partitions: { type: "string" },
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "v" },
    },
  });
}
