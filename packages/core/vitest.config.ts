import { defineProject } from "vitest/config"
import { resolveSource } from "../../vitest.shared.js"

export default defineProject({
  ...resolveSource,
  test: {
    name: "core",
    include: ["test/**/*.test.ts"],
    // Property tests run hundreds of cases; on a loaded 2-core CI machine they outlast vitest's 5 s default.
    testTimeout: 60_000
  }
})
