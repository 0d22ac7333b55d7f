import { constants } from "node:os";
import type { Logger } from "pino";

/** One running part of the process, as shutdown sees it. */
export interface Stoppable {
  /** What it is, for the log. */
  name: string;
  /** Stops it gracefully: what is in flight finishes. */
  close(): Promise<void>;
  /**
   * Shutdown is out of time: give back or cut off what is left, within
   * `budgetMs`, and say what could not be finished (nothing: an empty list).
   */
  abandon?(budgetMs: number): Promise<string[]> | string[];
  /** Stopped only after every other part (what they need, like a private Redis). */
  last?: boolean;
}

export interface Lifecycle {
  /** True once a signal came: start nothing more. */
  readonly stopping: boolean;
  /** Adds a part to stop; one added after the signal is stopped at once. */
  add(part: Stoppable): void;
  /**
   * Resolves with the exit code after the first SIGTERM/SIGINT: 0 once every
   * part stopped, 1 when time ran out first, 128 + the signal's number when a
   * second signal came.
   */
  readonly stopped: Promise<number>;
  /** Stops every part as a signal would, but the exit code is 1: something found after start-up refuses to run. */
  fail(reason: string): void;
}

export interface LifecycleOptions {
  logger: Logger;
  /** The whole shutdown, from the signal to the exit code. */
  timeoutMs: number;
  /** @default ["SIGTERM", "SIGINT"] */
  signals?: NodeJS.Signals[];
}

/** The part of the timeout kept for handing work back once the graceful stop has run out of time. */
export function abandonBudget(timeoutMs: number): number {
  return Math.min(1000, Math.floor(timeoutMs / 4));
}

/**
 * Listens for SIGTERM/SIGINT from now on (also during start-up) and runs the
 * shutdown: every part closes gracefully, those marked `last` after the rest;
 * if that has not finished `abandonBudget` before `timeoutMs`, each part
 * abandons what is left and the log says what was not finished. A second
 * signal ends it at once. Signals are listened for with `on`, not `once`: a
 * second SIGTERM must not fall through to Node's default, which exits without a word.
 *
 * @example
 * const lifecycle = signalLifecycle({ logger, timeoutMs: config.shutdownTimeoutMs });
 * lifecycle.add({ name: "gateway", close: () => gateway.close() });
 * process.exitCode = await lifecycle.stopped;
 */
export function signalLifecycle({ logger, timeoutMs, signals = ["SIGTERM", "SIGINT"] }: LifecycleOptions): Lifecycle {
  const parts: Stoppable[] = [];
  let stopping = false;
  let resolveStopped!: (code: number) => void;
  const stopped = new Promise<number>((resolve) => {
    resolveStopped = resolve;
  });
  let done = false;
  let failed = false;
  const finish = (code: number) => {
    if (done) return;
    done = true;
    if (failed && code === 0) code = 1;
    for (const signal of signals) process.off(signal, onSignal);
    resolveStopped(code);
  };

  const closed = new Set<Stoppable>();
  async function closeAll(group: Stoppable[]) {
    await Promise.all(
      group.map(async (part) => {
        try {
          await part.close();
        } catch (err) {
          logger.error({ err, part: part.name }, `${part.name} did not close cleanly`);
        }
        closed.add(part);
        logger.debug({ part: part.name }, `${part.name} stopped`);
      }),
    );
  }

  async function shutdown(signal: string) {
    const started = Date.now();
    const budget = abandonBudget(timeoutMs);
    logger.info(
      { signal, timeoutMs },
      `${signal}: shutting down — no new callbacks; in-flight callbacks and deliveries finish or are handed back within ${timeoutMs} ms`,
    );
    const graceful = (async () => {
      await closeAll(parts.filter((part) => !part.last));
      await closeAll(parts.filter((part) => part.last));
      return true as const;
    })();
    if (await by(graceful, timeoutMs - budget)) {
      logger.info({ durationMs: Date.now() - started }, "stopped");
      return finish(0);
    }
    const open = parts.filter((part) => !closed.has(part));
    const unfinished = (
      await Promise.all(
        open.map(async (part) => {
          const lines = part.abandon ? await by(Promise.resolve(part.abandon(budget)), budget) : [];
          return lines === false ? [`${part.name}: did not finish handing back its work`] : lines;
        }),
      )
    ).flat();
    logger.error(
      { timeoutMs, unfinished, stillStopping: open.map((part) => part.name) },
      `shutdown ran out of time (${timeoutMs} ms): exiting with work unfinished${unfinished.length ? `: ${unfinished.join("; ")}` : ""}`,
    );
    finish(1);
  }

  function onSignal(signal: NodeJS.Signals) {
    if (stopping) {
      logger.warn({ signal }, `second ${signal} during shutdown: exiting now, without finishing what is in flight`);
      finish(128 + (constants.signals[signal] ?? 0));
      return;
    }
    stopping = true;
    void shutdown(signal);
  }
  for (const signal of signals) process.on(signal, onSignal);

  return {
    get stopping() {
      return stopping;
    },
    add(part) {
      parts.push(part);
      // It started while the others were stopping: it has nothing in flight yet, so it only needs closing.
      if (stopping) void part.close().catch(() => {});
    },
    stopped,
    fail(reason) {
      failed = true;
      if (stopping) return;
      stopping = true;
      void shutdown(reason);
    },
  };
}

/**
 * The promise's value, or false after `ms`. Unlike `within`, the timer keeps
 * the process alive: the deadline must fire even when nothing else is pending.
 */
function by<T>(promise: Promise<T>, ms: number): Promise<T | false> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
