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
import { RateLimit, RateLimitStore, type StorageError } from "@parley/core"
import { Duration, Effect, Either, Layer, Option, Schedule, Schema } from "effect"
import { storage } from "./internal/storage.js"

const Millis = Schema.Union(Schema.Number, Schema.NumberFromString)
const decodeWaits = Schema.decodeUnknown(Schema.Array(Schema.Struct({ wait: Millis })))
const decodeGrants = Schema.decodeUnknown(Schema.Array(Schema.Struct({ base: Millis, from: Millis })))
const decodeWhich = Schema.decodeUnknown(Schema.Array(Schema.Struct({ which: Schema.Number, wait: Millis })))

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

  const reserveBatch = (key: string, rate: RateLimit.Rate, count: number, maxWaitMillis: number) => {
    const hash = digest(key)
    const interval = rate.intervalMillis
    const n = Math.max(1, Math.floor(count))
    const span = n * interval
    const tolerance = (Math.max(1, rate.burst) - 1) * interval
    const maxWait = Number.isFinite(maxWaitMillis) ? Math.max(0, maxWaitMillis) : forever
    // EXCLUDED.touched_at is this statement's "now". The schedule's base is max(tat, now, paused); the n slots are
    // base, base + interval, …, each no earlier than max(now, paused) nor more than the burst ahead; the new tat is
    // base + n intervals. RETURNING gives the base and max(now, paused), relative to now; the waits follow in JS.
    // A batch whose first slot would wait longer than maxWait changes nothing and returns no row.
    return Effect.gen(function* () {
      const granted = yield* sql`
        INSERT INTO rate_limit_cells AS c (key_sha256, tat, paused_until, touched_at)
        SELECT ${hash}, t.now + ${span}::float8, 0, t.now FROM (SELECT ${now} AS now) t
        ON CONFLICT (key_sha256) DO UPDATE
          SET tat = GREATEST(c.tat, EXCLUDED.touched_at, c.paused_until) + ${span}::float8,
              touched_at = EXCLUDED.touched_at
          WHERE GREATEST(c.tat - ${tolerance}::float8, EXCLUDED.touched_at, c.paused_until) - EXCLUDED.touched_at
            <= ${maxWait}::float8
        RETURNING c.tat - ${span}::float8 - c.touched_at AS base,
          GREATEST(c.touched_at, c.paused_until) - c.touched_at AS "from"`.pipe(Effect.flatMap(decodeGrants))
      const first = granted[0]
      if (first !== undefined) {
        return Either.right(
          Array.from({ length: n }, (_, i) => Math.max(first.base + i * interval - tolerance, first.from, 0))
        )
      }
      const waits = yield* sql`
        SELECT GREATEST(tat - ${tolerance}::float8, t.now, paused_until) - t.now AS wait
        FROM rate_limit_cells, (SELECT ${now} AS now) t
        WHERE key_sha256 = ${hash}`.pipe(Effect.flatMap(decodeWaits))
      return Either.left(Math.max(maxWait, waits[0]?.wait ?? 0))
    }).pipe(storage("RateLimitStore.reserve"))
  }

  /** A key's upsert as a data-modifying CTE: one slot, or nothing when it would wait longer than `maxWait`. */
  const upsert = (limit: RateLimit.Limit, when: Statement.Fragment) => {
    const interval = limit.rate.intervalMillis
    const tolerance = (Math.max(1, limit.rate.burst) - 1) * interval
    const maxWait = Number.isFinite(limit.maxWaitMillis) ? Math.max(0, limit.maxWaitMillis) : forever
    return sql`
      INSERT INTO rate_limit_cells AS c (key_sha256, tat, paused_until, touched_at)
      SELECT ${digest(limit.key)}, t.now + ${interval}::float8, 0, t.now FROM t WHERE ${when}
      ON CONFLICT (key_sha256) DO UPDATE
        SET tat = GREATEST(c.tat, EXCLUDED.touched_at, c.paused_until) + ${interval}::float8,
            touched_at = EXCLUDED.touched_at
        WHERE GREATEST(c.tat - ${tolerance}::float8, EXCLUDED.touched_at, c.paused_until) - EXCLUDED.touched_at
          <= ${maxWait}::float8
      RETURNING GREATEST(c.tat - ${interval}::float8 - ${tolerance}::float8, c.paused_until, c.touched_at)
        - c.touched_at AS wait`
  }

  /**
   * One statement for both when the first is granted at once: the two upserts share the statement's "now", and the
   * second runs only if the first returned a slot due now. A refusal (rare: a queue longer than the caller accepts)
   * is answered by `reserve`, which reads the wait it would have had, as a refusal always is.
   */
  const reserveBoth = (first: RateLimit.Limit, second: RateLimit.Limit) =>
    Effect.gen(function* () {
      const rows = yield* sql`
        WITH t AS (SELECT ${now} AS now),
        first AS (${upsert(first, sql`true`)}),
        second AS (${upsert(second, sql`EXISTS (SELECT 1 FROM first WHERE first.wait <= 0)`)})
        SELECT 1 AS which, wait FROM first UNION ALL SELECT 2, wait FROM second`.pipe(Effect.flatMap(decodeWhich))
      const waitOf = (which: number) => rows.find((row) => row.which === which)?.wait
      const firstWait = waitOf(1)
      if (firstWait === undefined) {
        const refused = yield* reserve(first.key, first.rate, first.maxWaitMillis)
        return [refused, Option.none()] as const
      }
      if (firstWait > 0) return [Either.right(firstWait), Option.none()] as const
      const secondWait = waitOf(2)
      const secondReservation =
        secondWait === undefined
          ? yield* reserve(second.key, second.rate, second.maxWaitMillis)
          : Either.right(Math.max(0, secondWait))
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
