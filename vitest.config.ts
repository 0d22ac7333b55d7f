import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Vitest's default is cores - 1: one file at a time on a 2-core machine. Most files wait on
    // Redis, sockets and child processes rather than the CPU, so two at a time there nearly halve
    // the suite's time (7 → 4 min). The cluster files still run alone, after the rest
    // (e2e/vitest.cluster.config.ts).
    maxWorkers: Math.max(2, availableParallelism() - 1),
    projects: ["packages/*", "apps/*", "e2e", "e2e/vitest.cluster.config.ts", "docs"],
  },
});
