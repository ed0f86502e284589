import { defineProject } from "vitest/config"
import { resolveSource } from "../../vitest.shared.js"

export default defineProject({
  ...resolveSource,
  test: {
    name: "twilio",
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000
  }
})
