import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "agora-adapter", include: ["test/**/*.test.ts"] },
});
