import { defineProject } from "vitest/config"
import { resolveSource } from "../vitest.shared.js"

export default defineProject({
  ...resolveSource,
  test: {
    name: "bench",
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 300_000
  }
})
