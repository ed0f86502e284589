/**
 * A `SqlClient` on a PostgreSQL server through `@effect/sql-pg`, on a node-postgres pool this module owns so that
 * its usage can be measured: `parley_db_pool_connections{state="total|idle|waiting"}` and
 * `parley_db_pool_max_connections`, sampled every few seconds (Effect gauges, rendered by the service's `/metrics`).
 */

import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import { PgClient } from "@effect/sql-pg"
import {
  Config,
  type ConfigError,
  Context,
  Duration,
  Effect,
  Layer,
  Metric,
  MetricLabel,
  Redacted,
  Schedule
} from "effect"
import Pg from "pg"
import * as Listen from "./internal/listen.js"
import { PreparingClient } from "./internal/prepared.js"
import * as Timestamptz from "./internal/timestamptz.js"

export interface PostgresClientOptions {
  /** `postgres://user:password@host:port/database` */
  readonly url: Redacted.Redacted
  /** Pool size; each Parley process holds at most this many server connections. */
  readonly maxConnections?: number | undefined
  readonly applicationName?: string | undefined
  /**
   * Run the hot statements as named prepared statements, parsed and planned once per connection (default true).
   * Turn off behind a pooler that does not keep prepared statements across transactions (PgBouncer before 1.21 in
   * transaction mode). See internal/prepared.ts.
   */
  readonly prepare?: boolean | undefined
}

const connectTimeout = Duration.seconds(5)
const idleTimeout = Duration.seconds(30)
/** How often the pool gauges are refreshed. */
const sampleEvery = Duration.seconds(5)

export const poolConnections = Metric.gauge("parley_db_pool_connections", {
  description: "PostgreSQL pool connections by state: total (open), idle, waiting (requests queued for one)"
})
export const poolMax = Metric.gauge("parley_db_pool_max_connections", {
  description: "The pool's size (DATABASE_POOL_SIZE)"
})

const gauge = (state: string) => Metric.taggedWithLabels(poolConnections, [MetricLabel.make("state", state)])
const total = gauge("total")
const idle = gauge("idle")
const waiting = gauge("waiting")

/** Reads the counts each time it runs (they are plain properties of the pool). */
const sample = (pool: Pg.Pool) =>
  Effect.suspend(() =>
    Effect.all([
      Metric.set(total, pool.totalCount),
      Metric.set(idle, pool.idleCount),
      Metric.set(waiting, pool.waitingCount)
    ])
  )

/** Opens the pool, checks the server with `SELECT 1` (bounded by the connect timeout), ends the pool on release. */
const acquirePool = (options: PostgresClientOptions) =>
  Effect.gen(function* () {
    const max = options.maxConnections ?? 10
    const pool = new Pg.Pool({
      connectionString: Redacted.value(options.url),
      max,
      connectionTimeoutMillis: Duration.toMillis(connectTimeout),
      idleTimeoutMillis: Duration.toMillis(idleTimeout),
      application_name: options.applicationName ?? "parley",
      types: Timestamptz.types,
      ...(options.prepare === false ? {} : { Client: PreparingClient })
    })
    // A connection that fails while idle is removed by the pool; queries see their own errors.
    pool.on("error", () => {})
    yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => pool.query("SELECT 1"),
        catch: (cause) => new SqlError({ cause, message: "PgClient: Failed to connect" })
      }),
      () => Effect.promise(() => pool.end()).pipe(Effect.interruptible, Effect.timeoutOption(1000))
    ).pipe(
      Effect.timeoutFail({
        duration: connectTimeout,
        onTimeout: () =>
          new SqlError({ cause: new Error("Connection timed out"), message: "PgClient: Connection timed out" })
      })
    )
    yield* Metric.set(poolMax, max)
    yield* sample(pool).pipe(Effect.repeat(Schedule.spaced(sampleEvery)), Effect.forkScoped)
    return pool
  })

/**
 * Connects (checking the server with `SELECT 1`), and closes the pool when the layer is released. `listen` is this
 * package's (internal/listen.ts: its connection cannot end the process when the server terminates it mid-start-up).
 */
export const layer = (options: PostgresClientOptions): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, SqlError> =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const pool = yield* acquirePool(options)
      const client = yield* PgClient.fromPool({
        acquire: Effect.succeed(pool),
        applicationName: options.applicationName ?? "parley"
      })
      const listening = Object.assign(client, { listen: yield* Listen.make(pool) })
      return Context.make(PgClient.PgClient, listening).pipe(Context.add(SqlClient.SqlClient, listening))
    })
  ).pipe(Layer.provide(Reactivity.layer))

/**
 * Reads `DATABASE_URL` (and optionally `DATABASE_POOL_SIZE` and `DATABASE_PREPARED_STATEMENTS`) from configuration.
 */
export const layerConfig = (
  url: Config.Config<Redacted.Redacted> = Config.redacted("DATABASE_URL"),
  maxConnections: Config.Config<number> = Config.integer("DATABASE_POOL_SIZE").pipe(Config.withDefault(10)),
  prepare: Config.Config<boolean> = Config.boolean("DATABASE_PREPARED_STATEMENTS").pipe(Config.withDefault(true))
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, SqlError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Config.all({ url, maxConnections, prepare }).pipe(Config.map((options) => layer(options))))
