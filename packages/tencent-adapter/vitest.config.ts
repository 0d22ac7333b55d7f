import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "tencent-adapter", include: ["test/**/*.test.ts"] },
});
