import { stripVTControlCharacters } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { build, type Installed, install, pack } from "./support.js"

describe("examples/effect-own-storage, installed from the packed tarballs with npm", () => {
  let example: Installed

  beforeAll(async () => {
    await build()
    example = await install("effect-own-storage", await pack())
  })
  afterAll(() => example?.remove())

  it("type-checks against the published declarations and passes the storage contract with its own adapter", async () => {
    const result = await example.npm("test").catch((error: { stdout: string; stderr: string }) => error)
    expect(result.stderr).not.toMatch(/error TS/)
    const output = stripVTControlCharacters(result.stdout)
    expect(output).toMatch(/test\/contract\.test\.ts \(35 tests\)/)
    expect(output).toMatch(/Tests\s+36 passed \(36\)/)
  })
})
