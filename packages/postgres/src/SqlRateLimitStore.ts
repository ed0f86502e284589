/**
 * The core's `RateLimitStore` in PostgreSQL, so every Parley process on one database draws from the same allowance
 * (a number's messages per second, Meta's pair rate, an API key's requests per minute).
 *
 * Each key is one row holding the GCRA state (`RateLimit.gcraBatch` in the core, the same arithmetic): a
 * reservation, of one slot or of a batch of consecutive slots, is one `INSERT … ON CONFLICT DO UPDATE … RETURNING`
 * on that row. The row lock serialises concurrent reservations
 * of a key, from any process, so each one moves the schedule on by exactly one interval and no two callers get the
 * same slot; the answer is the caller's wait, which it sleeps on its own clock. "Now" is the database's clock, so
 * hosts whose clocks disagree still agree on the schedule.
 */
import { createHash } from "node:crypto"
import type { Statement } from "@effect/sql"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { RateLimit, RateLimitStore, type StorageError } from "@parley/core"
import { Duration, Effect, Either, Layer, Option, Schedule, Schema } from "effect"
import { prepared } from "./internal/prepared.js"
import { storage } from "./internal/storage.js"

const Millis = Schema.Union(Schema.Number, Schema.NumberFromString)
const decodeWaits = Schema.decodeUnknown(Schema.Array(Schema.Struct({ wait: Millis })))
const decodeGrants = Schema.decodeUnknown(Schema.Array(Schema.Struct({ base: Millis, from: Millis })))
const decodeWhich = Schema.decodeUnknown(
  Schema.Array(Schema.Struct({ which: Schema.Number, base: Millis, from: Millis }))
)

const digest = (key: string) => createHash("sha256").update(key, "utf8").digest()

/** Larger than any wait a caller could mean, and finite (a parameter must be). */
const forever = 1e15

export interface Options {
  /** How often rows equivalent to a key at rest are deleted (default one minute). */
  readonly sweepEvery?: Duration.DurationInput
}

/** The store on the `SqlClient` in context. */
export const make: Effect.Effect<RateLimitStore["Type"], never, SqlClient.SqlClient> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const now = sql.literal("(extract(epoch FROM clock_timestamp()) * 1000)")

  /** A key's schedule in the units of one reservation: its hash, interval, burst tolerance and longest wait. */
  const cell = (key: string, rate: RateLimit.Rate, maxWaitMillis: number) => ({
    hash: digest(key),
    interval: rate.intervalMillis,
    tolerance: (Math.max(1, rate.burst) - 1) * rate.intervalMillis,
    maxWait: Number.isFinite(maxWaitMillis) ? Math.max(0, maxWaitMillis) : forever
  })

  /**
   * The reservation of `n` consecutive slots of a key, as a data-modifying CTE over a CTE `t` holding the
   * statement's "now" (`t.now`, which EXCLUDED.touched_at carries), run only `when` holds. The schedule's base is
   * max(tat, now, paused); the n slots are base, base + interval, …, each no earlier than max(now, paused) nor more
   * than the burst ahead; the new tat is base + n intervals. RETURNING gives the base and max(now, paused), relative
   * to now (`waitsOf` turns them into the waits). One whose first slot would wait longer than maxWait changes
   * nothing and returns no row.
   */
  const upsert = (c: ReturnType<typeof cell>, n: number, when: Statement.Fragment) => {
    const span = n * c.interval
    return sql`
      INSERT INTO rate_limit_cells AS c (key_sha256, tat, paused_until, touched_at)
      SELECT ${c.hash}, t.now + ${span}::float8, 0, t.now FROM t WHERE ${when}
      ON CONFLICT (key_sha256) DO UPDATE
        SET tat = GREATEST(c.tat, EXCLUDED.touched_at, c.paused_until) + ${span}::float8,
            touched_at = EXCLUDED.touched_at
        WHERE GREATEST(c.tat - ${c.tolerance}::float8, EXCLUDED.touched_at, c.paused_until) - EXCLUDED.touched_at
          <= ${c.maxWait}::float8
      RETURNING c.tat - ${span}::float8 - c.touched_at AS base,
        GREATEST(c.touched_at, c.paused_until) - c.touched_at AS "from"`
  }

  const waitsOf = (c: ReturnType<typeof cell>, n: number, grant: { readonly base: number; readonly from: number }) =>
    Array.from({ length: n }, (_, i) => Math.max(grant.base + i * c.interval - c.tolerance, grant.from, 0))

  /** What a refused reservation would have waited (read only: a refusal reserves nothing). */
  const refusedWait = (c: ReturnType<typeof cell>) =>
    sql`${prepared(sql)}
      SELECT GREATEST(tat - ${c.tolerance}::float8, t.now, paused_until) - t.now AS wait
      FROM rate_limit_cells, (SELECT ${now} AS now) t
      WHERE key_sha256 = ${c.hash}`.pipe(
      Effect.flatMap(decodeWaits),
      Effect.map((waits) => Math.max(c.maxWait, waits[0]?.wait ?? 0))
    )

  /**
   * Runs a reservation. When its caller times it (`RateLimit.timed`), on a connection of its own, taken from the
   * pool first, so that it can mark when the statement leaves: a reservation that waited for a connection under load
   * was not answered late (its slots are computed from the database's clock when it runs), and judging it from
   * before that wait had the gateway give up and take again about a third of its number slots.
   */
  const reservation = <A>(statement: Statement.Statement<A>): Effect.Effect<ReadonlyArray<unknown>, SqlError> =>
    Effect.flatMap(RateLimit.isTimed, (timed) =>
      timed
        ? Effect.scoped(
            Effect.gen(function* () {
              const connection = yield* sql.reserve
              const [text, params] = statement.compile()
              yield* RateLimit.markSent
              return yield* connection.execute(text, params, undefined)
            })
          )
        : statement
    )

  const reserveBatch = (key: string, rate: RateLimit.Rate, count: number, maxWaitMillis: number) => {
    const c = cell(key, rate, maxWaitMillis)
    const n = Math.max(1, Math.floor(count))
    return Effect.gen(function* () {
      const granted = yield* reservation(sql`${prepared(sql)}
        WITH t AS (SELECT ${now} AS now), r AS (${upsert(c, n, sql`true`)})
        SELECT base, "from" FROM r`).pipe(Effect.flatMap(decodeGrants))
      const grant = granted[0]
      return grant === undefined ? Either.left(yield* refusedWait(c)) : Either.right(waitsOf(c, n, grant))
    }).pipe(storage("RateLimitStore.reserve"))
  }

  /**
   * One statement for both: the two reservations share the statement's "now", and the second runs only if the first
   * returned a slot due now. A refusal (rare: a queue longer than the caller accepts) is answered by the wait it
   * would have had, read as `reserveBatch` reads it.
   */
  const reserveBoth = (first: RateLimit.Limit, second: RateLimit.Limit) =>
    Effect.gen(function* () {
      const a = cell(first.key, first.rate, first.maxWaitMillis)
      const b = cell(second.key, second.rate, second.maxWaitMillis)
      // The first's slot is due now: its wait (as `waitsOf` computes it) is 0.
      const firstDue = sql`EXISTS (
        SELECT 1 FROM first WHERE GREATEST(first.base - ${a.tolerance}::float8, first."from", 0) <= 0)`
      const rows = yield* reservation(sql`${prepared(sql)}
        WITH t AS (SELECT ${now} AS now),
        first AS (${upsert(a, 1, sql`true`)}),
        second AS (${upsert(b, 1, firstDue)})
        SELECT 1 AS which, base, "from" FROM first UNION ALL SELECT 2, base, "from" FROM second`).pipe(
        Effect.flatMap(decodeWhich)
      )
      const grantOf = (which: number) => rows.find((row) => row.which === which)
      const firstGrant = grantOf(1)
      if (firstGrant === undefined) return [Either.left(yield* refusedWait(a)), Option.none()] as const
      const firstWait = waitsOf(a, 1, firstGrant)[0] ?? 0
      if (firstWait > 0) return [Either.right(firstWait), Option.none()] as const
      const secondGrant = grantOf(2)
      const secondReservation =
        secondGrant === undefined
          ? Either.left(yield* refusedWait(b))
          : Either.right(waitsOf(b, 1, secondGrant)[0] ?? 0)
      return [Either.right(0), Option.some(secondReservation)] as const
    }).pipe(storage("RateLimitStore.reserveBoth"))

  const pause = (key: string, millis: number) =>
    sql`
      INSERT INTO rate_limit_cells AS c (key_sha256, tat, paused_until, touched_at)
      SELECT ${digest(key)}, 0, t.now + ${Math.max(0, millis)}::float8, t.now FROM (SELECT ${now} AS now) t
      ON CONFLICT (key_sha256) DO UPDATE
        SET paused_until = GREATEST(c.paused_until, EXCLUDED.paused_until), touched_at = EXCLUDED.touched_at`.pipe(
      Effect.asVoid,
      storage("RateLimitStore.pause")
    )

  const reserve = (key: string, rate: RateLimit.Rate, maxWaitMillis: number) =>
    Effect.map(reserveBatch(key, rate, 1, maxWaitMillis), RateLimit.firstOf)

  return RateLimitStore.of({ reserve, reserveBatch, reserveBoth, pause })
})

/**
 * Deletes the rows of keys at rest (their schedule and pause are past), which are equivalent to no row. A racing
 * reservation is safe: under READ COMMITTED the DELETE re-checks its condition on the row's newest version.
 */
export const sweep: Effect.Effect<number, StorageError, SqlClient.SqlClient> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql`
    DELETE FROM rate_limit_cells c
    USING (SELECT extract(epoch FROM clock_timestamp()) * 1000 AS now) t
    WHERE c.tat < t.now AND c.paused_until < t.now
    RETURNING 1 AS deleted`
  return rows.length
}).pipe(storage("RateLimitStore.sweep"))

/** The store, and a fiber that sweeps keys at rest for as long as the layer lives. */
export const layer = (options: Options = {}): Layer.Layer<RateLimitStore, never, SqlClient.SqlClient> =>
  Layer.scoped(
    RateLimitStore,
    Effect.gen(function* () {
      const store = yield* make
      yield* sweep.pipe(
        Effect.catchAll((error) => Effect.logWarning("rate limit sweep failed", error.message)),
        Effect.repeat(Schedule.spaced(options.sweepEvery ?? Duration.minutes(1))),
        Effect.delay(options.sweepEvery ?? Duration.minutes(1)),
        Effect.forkScoped
      )
      return store
    })
  )
