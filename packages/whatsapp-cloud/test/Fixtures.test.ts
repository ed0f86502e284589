/**
 * The committed fixture copies stay byte-identical to the reference's fixtures whenever the reference is beside the
 * repository (as on the project machine and in CI).
 */

import { existsSync, readdirSync, readFileSync } from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { copiesDir, fixturesDir, sharedDir } from "./support/fixtures.js"

const jsonFiles = (dir: string) =>
  readdirSync(dir)
    .filter((name) => name.endsWith(".json"))
    .sort()

describe("fixtures", () => {
  it("the copies match the reference fixtures, file for file", () => {
    const copies = jsonFiles(copiesDir)
    assert.isAtLeast(copies.length, 11)
    if (!existsSync(sharedDir)) {
      assert.strictEqual(fixturesDir, copiesDir)
      return
    }
    assert.deepStrictEqual(copies, jsonFiles(sharedDir))
    for (const name of copies) {
      assert.strictEqual(
        readFileSync(Path.join(copiesDir, name), "utf8"),
        readFileSync(Path.join(sharedDir, name), "utf8"),
        name
      )
    }
  })
})
