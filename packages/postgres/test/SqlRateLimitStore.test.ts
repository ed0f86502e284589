/**
 * The shared rate limits in the database: the core's `RateLimitStore` contract on PGlite and PostgreSQL, and on
 * PostgreSQL the property that makes them shared: callers in several processes (separate pools) draw from one
 * schedule. Also the sweep of keys at rest.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, layer, type Vitest } from "@effect/vitest"
import { RateLimit, RateLimitStore } from "@parley/core"
import { runRateLimitStoreContract } from "@parley/core/testing"
import { Clock, Context, Deferred, Effect, Either, Fiber, Layer } from "effect"
import * as SqlRateLimitStore from "../src/SqlRateLimitStore.js"
import { TestDatabase } from "../src/testing/index.js"

const target = await TestDatabase.resolvePostgres()

runRateLimitStoreContract("PGlite", SqlRateLimitStore.layer().pipe(Layer.provide(TestDatabase.pglite)))

layer(TestDatabase.pglite, { excludeTestServices: true, timeout: 30_000 })("SqlRateLimitStore.sweep", (it) => {
  it.effect("deletes keys at rest and keeps the others", () =>
    Effect.gen(function* () {
      const store = yield* SqlRateLimitStore.make
      const sql = yield* SqlClient.SqlClient
      yield* store.reserve("sweep:rested", { intervalMillis: 1, burst: 1 }, 0)
      yield* store.reserve("sweep:busy", { intervalMillis: 600_000, burst: 1 }, 0)
      yield* store.pause("sweep:paused", 600_000)
      yield* Effect.sleep("20 millis")
      assert.strictEqual(yield* SqlRateLimitStore.sweep, 1)
      const left = yield* sql`SELECT count(*)::int AS n FROM rate_limit_cells`
      assert.strictEqual(left[0]?.n, 2)
      // The busy key still remembers its schedule.
      const next = yield* store.reserve("sweep:busy", { intervalMillis: 600_000, burst: 1 }, 0)
      assert.isTrue(Either.isLeft(next))
    })
  )
})

/**
 * A timed reservation (the gateway's) is sent once it has a connection: while a transaction holds the only one (a
 * PGlite has one; the PostgreSQL pool here too), the reservation waits, and that wait is not counted as lateness.
 */
const waitsForItsConnection = (it: Vitest.MethodsNonLive<SqlClient.SqlClient, true>) =>
  it.effect("a timed reservation marks when it is sent: a wait for a connection does not count", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const store = yield* SqlRateLimitStore.make
      const holding = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(
        sql.withTransaction(Effect.zipRight(Deferred.succeed(holding, undefined), Effect.sleep("400 millis")))
      )
      yield* Deferred.await(holding)
      const asked = yield* Clock.currentTimeMillis
      const [batch, sent] = yield* RateLimit.timed(
        store.reserveBatch("timed:queued", { intervalMillis: 10, burst: 1 }, 1, Number.POSITIVE_INFINITY)
      )
      const answered = yield* Clock.currentTimeMillis
      yield* Fiber.join(holder)
      assert.isTrue(Either.isRight(batch))
      // Sent after the holder let its connection go (about 400 ms), answered soon after (generous under load).
      assert.isAtLeast(sent - asked, 300)
      assert.isAtMost(answered - sent, 300)
      // The same statement untimed takes the next slot of the same schedule.
      const next = Either.getOrThrow(
        yield* store.reserveBatch("timed:queued", { intervalMillis: 10, burst: 1 }, 1, Number.POSITIVE_INFINITY)
      )
      assert.isAtMost(next[0] ?? Number.NaN, 10)
    })
  )

layer(TestDatabase.pglite, { excludeTestServices: true, timeout: 30_000 })("SqlRateLimitStore on PGlite", (it) => {
  waitsForItsConnection(it)
})

if (target._tag !== "Unavailable") {
  layer(TestDatabase.postgres({ url: target.url, maxConnections: 1 }), { excludeTestServices: true, timeout: 30_000 })(
    "SqlRateLimitStore on a PostgreSQL pool of one connection",
    (it) => {
      waitsForItsConnection(it)
    }
  )

  runRateLimitStoreContract(
    "PostgreSQL",
    SqlRateLimitStore.layer().pipe(Layer.provide(TestDatabase.postgres({ url: target.url, maxConnections: 10 })))
  )

  /** Four stores on four pools of one database: four processes. */
  class Stores extends Context.Tag("test/Stores")<Stores, ReadonlyArray<RateLimitStore["Type"]>>() {}
  const fourProcesses = Layer.scoped(
    Stores,
    Effect.forEach(Array.from({ length: 4 }), () =>
      Effect.map(Layer.build(SqlRateLimitStore.layer().pipe(Layer.provide(TestDatabase.client(5)))), (context) =>
        Context.get(context, RateLimitStore)
      )
    )
  ).pipe(Layer.provide(TestDatabase.postgres({ url: target.url, maxConnections: 2 })))

  layer(fourProcesses, { excludeTestServices: true, timeout: 60_000 })("SqlRateLimitStore across processes", (it) => {
    it.effect("200 reservations from 4 pools at once take 200 distinct slots of one schedule", () =>
      Effect.gen(function* () {
        const stores = yield* Stores
        const interval = 10_000
        const burst = 10
        const waits = yield* Effect.forEach(
          Array.from({ length: 200 }, (_, i) => stores[i % stores.length]!),
          (store) => store.reserve("shared:number", { intervalMillis: interval, burst }, Number.POSITIVE_INFINITY),
          { concurrency: "unbounded" }
        )
        // Slot k after the burst is k intervals out; rounding absorbs the time each call took (well under 5 s).
        const slots = waits.map((w) => Math.round(Either.getOrThrow(w) / interval)).sort((a, b) => a - b)
        const expected = [...Array.from({ length: burst }, () => 0), ...Array.from({ length: 190 }, (_, k) => k + 1)]
        assert.deepStrictEqual(slots, expected)
      })
    )

    it.effect("a pause taken by one process holds the others", () =>
      Effect.gen(function* () {
        const [a, b] = yield* Stores
        yield* a!.pause("shared:paused", 30_000)
        const refused = yield* b!.reserve("shared:paused", { intervalMillis: 1, burst: 100 }, 1_000)
        assert.isTrue(Either.isLeft(refused))
      })
    )
  })
}
