/**
 * script.ts: parameters written into the text as literals read back as the same values on PostgreSQL, whatever
 * they hold; quotes and comments of the statement are left alone; and a script's statement after an advisory lock
 * sees what the lock's previous holder committed (what a short locked transaction sent as one script relies on).
 */
import { randomBytes } from "node:crypto"
import { FastCheck as fc } from "effect"
import Pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { inline, literal } from "../src/internal/script.js"
import * as Timestamptz from "../src/internal/timestamptz.js"
import { resolvePostgres } from "../src/testing/TestDatabase.js"

const target = await resolvePostgres()

describe("script literals", () => {
  it("replace placeholders outside quotes and comments only", () => {
    const text = `SELECT '$1 it''s' AS "$2", $1 AS a, $2 AS b -- the $1 it's\n, /* $2 ' */ $10 AS c`
    const params = ["x", 2, null, null, null, null, null, null, null, true]
    expect(inline(text, params)).toBe(
      `SELECT '$1 it''s' AS "$2", 'x' AS a, (2) AS b -- the $1 it's\n, /* $2 ' */ TRUE AS c`
    )
    // Unterminated quotes and comments run to the end; a doubled quote does not end a string; $1 is not $10's prefix.
    expect(inline("SELECT $1, 'a''$1", ["x"])).toBe("SELECT 'x', 'a''$1")
    expect(inline('SELECT $1 AS "a""$1', ["x"])).toBe(`SELECT 'x' AS "a""$1`)
    expect(inline("SELECT $1 /* $1", ["x"])).toBe("SELECT 'x' /* $1")
    expect(inline("SELECT $1 -- $1\n, $1", ["x"])).toBe("SELECT 'x' -- $1\n, 'x'")
    expect(inline("SELECT $10, $1", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])).toBe("SELECT (10), (1)")
    expect(inline("SELECT '$1''' || $1", ["x"])).toBe("SELECT '$1''' || 'x'")
  })

  it("give up on a kind they do not write, or a placeholder without a parameter", () => {
    expect(literal(["a"])).toBeUndefined()
    expect(literal({ a: 1 })).toBeUndefined()
    expect(literal(Number.NaN)).toBeUndefined()
    expect(literal(new Date(Number.NaN))).toBeUndefined()
    expect(inline("SELECT $1, $2", ["a"])).toBeUndefined()
    expect(inline("SELECT $1", [["a"]])).toBeUndefined()
  })
})

describe.runIf(target._tag !== "Unavailable")("scripts on PostgreSQL", () => {
  const client = new Pg.Client({ connectionString: target.url, types: Timestamptz.types })
  const table = `script_test_${randomBytes(6).toString("hex")}`

  beforeAll(async () => {
    await client.connect()
    await client.query(`CREATE TABLE ${table} (id int)`)
  })
  afterAll(async () => {
    await client.query(`DROP TABLE IF EXISTS ${table}`)
    await client.end()
  })

  it("read back every value as it was, through the simple protocol", async () => {
    const text =
      "SELECT $1::text AS s, $2::float8 AS n, $3::boolean AS b, $4::timestamptz AS t, $5::bytea AS x, $6::int8 AS i"
    // Any text PostgreSQL can hold (no NUL), with quotes, backslashes, placeholders and comment marks mixed in.
    const tricky = fc.constantFrom("'", "''", "\\", "\\'", "$1", "$2$", "--", "/*", "*/", "E'", '"', "\n", "é", "😀")
    const anyText = fc
      .array(fc.oneof(tricky, fc.string({ unit: "grapheme" })), { maxLength: 8 })
      .map((parts) => parts.join("").replaceAll("\u0000", ""))
    await fc.assert(
      fc.asyncProperty(
        anyText,
        fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer()),
        fc.boolean(),
        fc.date({ min: new Date("0001-01-01T00:00:00Z"), max: new Date("9999-12-31T23:59:59Z"), noInvalidDate: true }),
        fc.uint8Array({ maxLength: 32 }),
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
        async (s, n, b, t, x, i) => {
          const inlined = inline(text, [s, n, b, t, x, i])
          expect(inlined).toBeDefined()
          const result = await client.query(inlined ?? "")
          const row = result.rows[0]
          expect(row.s).toBe(s)
          expect(row.n).toBe(Object.is(n, -0) ? 0 : n)
          expect(row.b).toBe(b)
          expect((row.t as Date).getTime()).toBe(t.getTime())
          expect(new Uint8Array(row.x as Buffer)).toEqual(x)
          expect(row.i).toBe(String(i))
        }
      ),
      { numRuns: 300 }
    )
  })

  it("let the statement after an advisory lock see what the lock's previous holder committed", async () => {
    const holder = new Pg.Client({ connectionString: target.url })
    const waiter = new Pg.Client({ connectionString: target.url })
    await Promise.all([holder.connect(), waiter.connect()])
    try {
      await holder.query("BEGIN")
      await holder.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [table])
      await holder.query(`INSERT INTO ${table} VALUES (1)`)
      const script = `SELECT pg_advisory_xact_lock(hashtextextended(${literal(table)}, 0));\nSELECT count(*)::int AS n FROM ${table}`
      const waiting = waiter.query(script) as unknown as Promise<ReadonlyArray<Pg.QueryResult>>
      // The script waits on the lock; the row commits meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 200))
      await holder.query("COMMIT")
      const results = await waiting
      expect(results[1]?.rows[0]?.n).toBe(1)
    } finally {
      await Promise.all([holder.end(), waiter.end()])
    }
  })
})
