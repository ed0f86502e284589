import { defineProject } from "vitest/config"
import { resolveSource } from "../../vitest.shared.js"

export default defineProject({
  ...resolveSource,
  test: {
    name: "whatsapp-cloud",
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000
  }
})
