import { defineProject } from "vitest/config";

// The Redis Cluster tests: each file starts a real 6-node cluster and several imrelay
// processes, and kills or reshards it. They run after every other project (groupOrder)
// and one file at a time, so a failover is never starved of CPU by the rest of the suite.
export default defineProject({
  test: {
    name: "cluster",
    include: ["cluster/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    fileParallelism: false,
    sequence: { groupOrder: 1 },
  },
});
