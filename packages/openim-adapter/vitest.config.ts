import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "openim-adapter", include: ["test/**/*.test.ts"] },
});
