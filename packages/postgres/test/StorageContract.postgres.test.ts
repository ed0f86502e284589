/**
 * The core's storage contract on PostgreSQL, in a fresh database created for this file. Required when `CI` or
 * `TEST_DATABASE_URL` is set; otherwise left out, with one warning line, if the default server does not answer.
 */
import { assert, describe, it } from "@effect/vitest"
import { runStorageContract } from "@parley/core/testing"
import { storage, TestDatabase } from "../src/testing/index.js"

const target = await TestDatabase.resolvePostgres()

if (target._tag !== "Unavailable") {
  runStorageContract("PostgreSQL", storage(TestDatabase.postgres({ url: target.url, maxConnections: 20 })))
}

describe("TestDatabase.resolvePostgres", () => {
  it("requires PostgreSQL (without probing) when TEST_DATABASE_URL is set", async () => {
    const url = "postgres://nobody@127.0.0.1:1/nowhere"
    assert.deepStrictEqual(await TestDatabase.resolvePostgres({ TEST_DATABASE_URL: url }), { _tag: "Required", url })
  })

  it("requires the default server in CI", async () => {
    assert.deepStrictEqual(await TestDatabase.resolvePostgres({ CI: "true" }), {
      _tag: "Required",
      url: TestDatabase.defaultUrl
    })
  })

  it("leaves PostgreSQL out only when neither is set and the server does not answer", async () => {
    const warnings: Array<string> = []
    const target = await TestDatabase.resolvePostgres(
      {},
      { fallbackUrl: "postgres://postgres@127.0.0.1:1/none", warn: (line) => warnings.push(line) }
    )
    assert.strictEqual(target._tag, "Unavailable")
    assert.strictEqual(warnings.length, 1)
    assert.include(warnings[0], "TEST_DATABASE_URL")
  })

  it("never shows a password in messages", () => {
    assert.strictEqual(
      TestDatabase.describeUrl("postgres://parley:s3cret@db.internal:5432/parley"),
      "postgres://parley:***@db.internal:5432/parley"
    )
  })
})
