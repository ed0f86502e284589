import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { build, type Installed, install, pack } from "./support.js"

describe("examples/express-postgres, installed from the packed tarballs with npm", () => {
  let example: Installed

  beforeAll(async () => {
    await build()
    example = await install("express-postgres", await pack())
  })
  afterAll(() => example?.remove())

  it("passes its own tests (node --test) against PostgreSQL and the fake Cloud API", async () => {
    const result = await example.npm("test").catch((error: { stdout: string; stderr: string }) => error)
    expect(result.stdout).toMatch(/# fail 0/)
    expect(result.stdout).toMatch(/# pass 5/)
  })
})
