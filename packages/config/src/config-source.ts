import type { ImrelayConfig } from "./schema.js";

/**
 * Where the running parts find the config in effect: one holder per process,
 * shared by the gateway and the worker when they run together, so a reload
 * is one `set` that both see.
 */
export interface ConfigSource {
  /** The config in effect now. */
  current(): ImrelayConfig;
  /** Puts a new config in effect; the listeners run before it returns. */
  set(next: ImrelayConfig): void;
  /** Calls `listener` after every `set`; returns the function that stops it. */
  onChange(listener: (next: ImrelayConfig, previous: ImrelayConfig) => void): () => void;
}

/**
 * @example
 * const source = createConfigSource(loaded.config);
 * process.on("SIGHUP", () => source.set(loadConfig({ path })!.config));
 */
export function createConfigSource(initial: ImrelayConfig): ConfigSource {
  let config = initial;
  const listeners = new Set<(next: ImrelayConfig, previous: ImrelayConfig) => void>();
  return {
    current: () => config,
    set(next) {
      const previous = config;
      config = next;
      for (const listener of listeners) listener(next, previous);
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/**
 * A config object whose every section is read from the source at the time of
 * the read. Code that keeps `config` and reads `config.tenants` per callback
 * or per job (the callback handler, the dispatcher, the delivery processor,
 * the admin routes) follows reloads through it without knowing of them; what
 * a part reads once at start-up (ports, Redis, concurrency) stays as it was,
 * which is why a reload keeps those settings (see `planReload`).
 *
 * @example
 * const gateway = await startGateway({ config: liveConfig(source), logger, registry });
 */
export function liveConfig(source: ConfigSource): ImrelayConfig {
  const view = {} as ImrelayConfig;
  for (const key of Object.keys(source.current())) {
    Object.defineProperty(view, key, { enumerable: true, get: () => source.current()[key as keyof ImrelayConfig] });
  }
  return view;
}
