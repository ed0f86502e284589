/**
 * The hot statements as named prepared statements (internal/prepared.ts): a marked statement is prepared once per
 * connection and then executed by name, an unmarked one never is, the names are stable and bounded, and the switch
 * turns it off. On PostgreSQL, required when `CI` or `TEST_DATABASE_URL` is set.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { marker, namer, unmarked } from "../src/internal/prepared.js"
import { eachRows, script } from "../src/internal/script.js"
import * as PostgresClient from "../src/PostgresClient.js"
import { TestDatabase } from "../src/testing/index.js"

const target = await TestDatabase.resolvePostgres()

describe("unmarked", () => {
  it("drops the marker at the start, after any whitespace, and nothing else", () => {
    assert.strictEqual(unmarked(`\n  ${marker} SELECT 1`), " SELECT 1")
    assert.strictEqual(unmarked(`SELECT 1 ${marker}`), `SELECT 1 ${marker}`)
  })
})

describe("namer", () => {
  it("one text, one name; another text, another name", () => {
    const nameOf = namer(10)
    const a = nameOf(`${marker} SELECT 1 AS a`)
    assert.strictEqual(nameOf(`${marker} SELECT 1 AS a`), a)
    assert.notStrictEqual(nameOf(`${marker} SELECT 2 AS a`), a)
    assert.match(a ?? "", /^parley_[0-9a-f]{24}$/)
    // The name is the text's, not the order it was met in: another process names it alike.
    assert.strictEqual(namer(10)(`${marker} SELECT 1 AS a`), a)
  })

  it("past the bound, a new text gets no name (it runs unnamed) while known texts keep theirs", () => {
    const nameOf = namer(5)
    const known = nameOf(`${marker} SELECT 'known'`)
    for (let i = 0; i < 10; i++) nameOf(`${marker} SELECT ${i} AS filler`)
    assert.strictEqual(nameOf(`${marker} SELECT 'one too many'`), undefined)
    assert.strictEqual(nameOf(`${marker} SELECT 'known'`), known)
  })
})

/** The statements this connection has prepared by name (`pg_prepared_statements` is per session). */
const preparedHere = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ name: string }>`SELECT name FROM pg_prepared_statements WHERE from_sql = false`
  return rows.map((row) => row.name).filter((name) => name.startsWith("parley_"))
})

const marked = (value: number) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ n: number }>`${sql.literal(marker)} SELECT ${value}::int + 1 AS n`)

if (target._tag !== "Unavailable") {
  const url = Redacted.make(target.url)

  // One connection, so the session that prepared is the one asked.
  layer(PostgresClient.layer({ url, maxConnections: 1 }), { timeout: 60_000 })("prepared (the default)", (it) => {
    it.effect("a marked statement is prepared once and answers as before, with each call's values", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        assert.deepStrictEqual(yield* marked(1), [{ n: 2 }])
        assert.deepStrictEqual(yield* marked(41), [{ n: 42 }])
        const names = yield* preparedHere
        assert.strictEqual(names.length, 1)
        // In a transaction too, and an unmarked statement is not prepared.
        const inside = yield* sql.withTransaction(marked(9))
        assert.deepStrictEqual(inside, [{ n: 10 }])
        yield* sql`SELECT 1 AS unmarked`
        assert.deepStrictEqual(yield* preparedHere, names)
      })
    )

    it.effect("marked statements joined into a script run inlined, unmarked (a prepared statement holds one)", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const statement = (value: number) => sql`${sql.literal(marker)} SELECT ${value}::int + 1 AS n`
        const text = script([statement(1), statement(2)])
        assert.isDefined(text)
        assert.notInclude(text ?? "", marker)
        const results = eachRows(yield* sql.unsafe<object>(text ?? ""), 2)
        assert.deepStrictEqual(results, [[{ n: 2 }], [{ n: 3 }]])
      })
    )
  })

  layer(PostgresClient.layer({ url, maxConnections: 1, prepare: false }), { timeout: 60_000 })(
    "prepare: false",
    (it) => {
      it.effect("a marked statement runs unnamed", () =>
        Effect.gen(function* () {
          assert.deepStrictEqual(yield* marked(1), [{ n: 2 }])
          assert.deepStrictEqual(yield* preparedHere, [])
        })
      )
    }
  )
}
