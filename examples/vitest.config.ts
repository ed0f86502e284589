import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "examples",
    include: ["test/**/*.test.ts"],
    // Packing and `npm install` into fresh folders: minutes on a loaded machine, not milliseconds.
    testTimeout: 300_000,
    hookTimeout: 300_000
  }
})
