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
    // The contract grows with the ports: what matters is that it ran in full and nothing failed.
    const contract = /test\/contract\.test\.ts \((\d+) tests\)/.exec(output)
    const totals = /Tests\s+(\d+) passed \((\d+)\)/.exec(output)
    expect(Number(contract?.[1])).toBeGreaterThan(30)
    expect(totals?.[1]).toBe(totals?.[2])
    expect(Number(totals?.[1])).toBe(Number(contract?.[1]) + 1)
  })
})
