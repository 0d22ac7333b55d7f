import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "netease-adapter", include: ["test/**/*.test.ts"] },
});
