/**
 * The PGlite client: persistence in a data directory, and one session shared safely between fibers.
 */

import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Redacted } from "effect"
import * as Migrations from "../src/Migrations.js"
import * as PgliteClient from "../src/PgliteClient.js"
import * as Secrets from "../src/Secrets.js"
import * as Storage from "../src/Storage.js"

const temporaryDirectory = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "parley-pglite-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

describe("PgliteClient", () => {
  it.live(
    "a database in a data directory survives closing and reopening, and is not migrated twice",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const dataDir = yield* temporaryDirectory
          const secretKey = Redacted.make(Secrets.generateKey())
          const id = crypto.randomUUID()
          yield* Effect.gen(function* () {
            const sql = yield* SqlClient.SqlClient
            yield* sql`INSERT INTO businesses (id, name) VALUES (${id}, 'Persisted')`
          }).pipe(Effect.provide(Storage.layerPglite({ dataDir, secretKey })))
          const reopened = yield* Effect.gen(function* () {
            const sql = yield* SqlClient.SqlClient
            const applied = yield* Migrations.run
            const rows = yield* sql`SELECT name FROM businesses WHERE id = ${id}`
            return { applied, rows }
          }).pipe(Effect.provide(Storage.layerPglite({ dataDir, secretKey })))
          assert.deepStrictEqual(reopened.applied, [])
          assert.deepStrictEqual(
            reopened.rows.map((row) => row.name),
            ["Persisted"]
          )
        })
      ),
    120_000
  )

  it.live("a statement from another fiber never runs inside someone else's open transaction", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE probe (n integer)`
      const inserted = yield* Deferred.make<void>()
      const proceed = yield* Deferred.make<void>()
      // The transaction inserts, waits, then rolls back; a reader started meanwhile must never see its row.
      const writer = yield* sql
        .withTransaction(
          Effect.gen(function* () {
            yield* sql`INSERT INTO probe VALUES (1)`
            yield* Deferred.succeed(inserted, undefined)
            yield* Deferred.await(proceed)
            return yield* Effect.fail("roll back" as const)
          })
        )
        .pipe(Effect.flip, Effect.fork)
      yield* Deferred.await(inserted)
      const reader = yield* Effect.fork(sql`SELECT count(*)::int AS n FROM probe`)
      yield* Effect.yieldNow()
      yield* Deferred.succeed(proceed, undefined)
      assert.strictEqual(yield* Fiber.join(writer), "roll back")
      const seen = yield* Fiber.join(reader)
      assert.strictEqual(seen[0]?.n, 0)
      // Concurrent statements outside transactions still all complete.
      const counts = yield* Effect.all(
        Array.from({ length: 100 }, (_, i) => sql`SELECT ${i}::int AS i`),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(counts.length, 100)
    }).pipe(Effect.provide(Layer.fresh(PgliteClient.layer())))
  )
})
