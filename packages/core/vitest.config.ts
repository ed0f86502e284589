import { defineProject } from "vitest/config"
import { resolveSource } from "../../vitest.shared.js"

export default defineProject({
  ...resolveSource,
  test: {
    name: "core",
    include: ["test/**/*.test.ts"],
    // Property tests run a hundred cases each; on a loaded machine that can take longer than vitest's 5 s default.
    testTimeout: 60_000
  }
})
