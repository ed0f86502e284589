import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "whatsapp-cloud",
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000
  }
})
