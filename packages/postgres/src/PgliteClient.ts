/**
 * A `SqlClient` running on an in-process PGlite (Postgres compiled to WebAssembly): the zero-setup default, with
 * the same SQL as a real server.
 *
 * PGlite is a single Postgres session, so every statement goes through one semaphore, and a transaction holds it
 * from BEGIN to COMMIT: otherwise another fiber's statement would run inside someone else's transaction. PGlite's
 * socket server is deliberately not used: with more than one connection it interleaves protocol messages and
 * silently returns wrong rows.
 */
import * as Fs from "node:fs"
import * as FsPromises from "node:fs/promises"
import * as Path from "node:path"
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlConnection from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, type Scope, Stream } from "effect"
import { EventNotifications, makeHub } from "./EventNotifications.js"
import { channel } from "./internal/notifier.js"

export interface PgliteClientOptions {
  /** A directory to persist the database in; in memory when absent. */
  readonly dataDir?: string | undefined
}

type Rows = ReadonlyArray<Record<string, unknown>>

const failed = (message: string) => (cause: unknown) => new SqlError({ cause, message })

/**
 * One turn of the event loop's I/O phase. PGlite runs a statement synchronously in WebAssembly and resolves its
 * promise at once, so a run of statements (the migrations, a large batch) would otherwise go from microtask to
 * microtask and starve the sockets: a `/health` request would wait for all of them.
 */
const ioTurn = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/**
 * A freshly initialised cluster for a data directory that has none yet: `pglite-seed.tar.gz` beside this module
 * (the build writes it: scripts/pglite-seed.mjs). Loading it skips initdb, which runs a second Postgres instance:
 * a first start takes 3 to 4 times less. Without the file (tests on the source) PGlite runs initdb as usual.
 */
const initialisedCluster = async (dataDir: string): Promise<Blob | undefined> => {
  if (Fs.existsSync(Path.join(dataDir, "PG_VERSION"))) return undefined
  try {
    return new Blob([await FsPromises.readFile(new URL("./pglite-seed.tar.gz", import.meta.url))])
  } catch {
    return undefined
  }
}

/**
 * Opens PGlite (closed when the scope closes) and builds a `SqlClient` on it. The contrib extensions the migrations
 * use (pg_trgm, btree_gin) are bundled with PGlite and loaded here.
 */
export const make = (
  options: PgliteClientOptions = {}
): Effect.Effect<SqlClient.SqlClient, SqlError, Reactivity.Reactivity | Scope.Scope> =>
  Effect.map(makeWithNotifications(options), ({ client }) => client)

/**
 * `make`, and the event feed's wake-ups: PGlite delivers `NOTIFY parley_events` to its own listeners when the
 * transaction commits. LISTEN runs here, before anyone can hold a transaction open.
 */
const makeWithNotifications = (
  options: PgliteClientOptions
): Effect.Effect<
  { readonly client: SqlClient.SqlClient; readonly notifications: EventNotifications["Type"] },
  SqlError,
  Reactivity.Reactivity | Scope.Scope
> =>
  Effect.gen(function* () {
    const db = yield* Effect.acquireRelease(
      Effect.tryPromise({
        // Loaded on first use: a service on PostgreSQL never loads PGlite (about 10 MB resident).
        try: async () => {
          const [{ PGlite }, { btree_gin }, { pg_trgm }] = await Promise.all([
            import("@electric-sql/pglite"),
            import("@electric-sql/pglite/contrib/btree_gin"),
            import("@electric-sql/pglite/contrib/pg_trgm")
          ])
          const seed = options.dataDir === undefined ? undefined : await initialisedCluster(options.dataDir)
          return PGlite.create({
            ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
            ...(seed === undefined ? {} : { loadDataDir: seed }),
            extensions: { pg_trgm, btree_gin }
          })
        },
        catch: failed("Failed to open PGlite")
      }),
      (db) => Effect.promise(() => db.close())
    )
    const lock = yield* Effect.makeSemaphore(1)

    const connection = (holdsLock: boolean): SqlConnection.Connection => {
      const guard = <A>(effect: Effect.Effect<A, SqlError>) =>
        Effect.zipRight(ioTurn, holdsLock ? effect : lock.withPermits(1)(effect))
      const run = (sql: string, params: ReadonlyArray<unknown>) =>
        guard(
          Effect.tryPromise({
            try: () => db.query<Record<string, unknown>>(sql, params as Array<unknown>),
            catch: failed("Failed to execute statement")
          })
        ).pipe(Effect.map((result): Rows => result.rows))
      const execute = (
        sql: string,
        params: ReadonlyArray<unknown>,
        transformRows: (<A extends object>(rows: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
      ) => (transformRows ? Effect.map(run(sql, params), transformRows) : run(sql, params))
      return {
        execute,
        executeRaw: (sql, params) =>
          guard(
            Effect.tryPromise({
              try: () => db.query(sql, params as Array<unknown>),
              catch: failed("Failed to execute statement")
            })
          ),
        executeValues: (sql, params) =>
          guard(
            Effect.tryPromise({
              try: () => db.query<Array<unknown>>(sql, params as Array<unknown>, { rowMode: "array" }),
              catch: failed("Failed to execute statement")
            })
          ).pipe(Effect.map((result) => result.rows)),
        // BEGIN/COMMIT/SAVEPOINT arrive here without parameters; `exec` runs them as a simple query.
        executeUnprepared: (sql, params, transformRows) =>
          params.length > 0
            ? execute(sql, params, transformRows)
            : guard(Effect.tryPromise({ try: () => db.exec(sql), catch: failed("Failed to execute statement") })).pipe(
                Effect.map((results): Rows => (results.at(-1)?.rows ?? []) as Rows),
                Effect.map((rows) => (transformRows ? transformRows(rows) : rows))
              ),
        // PGlite has no cursors: the rows are loaded, then streamed.
        executeStream: (sql, params, transformRows) => Stream.fromIterableEffect(execute(sql, params, transformRows))
      }
    }

    const hub = makeHub()
    yield* Effect.tryPromise({
      try: () => db.listen(channel, (businessId) => hub.publish(businessId)),
      catch: failed("Failed to listen")
    })

    const client = yield* SqlClient.make({
      acquirer: Effect.succeed(connection(false)),
      transactionAcquirer: Effect.as(
        Effect.acquireRelease(lock.take(1), () => lock.release(1)),
        connection(true)
      ),
      compiler: PgClient.makeCompiler(),
      spanAttributes: [
        ["db.system.name", "postgresql"],
        ["db.namespace", options.dataDir === undefined ? "pglite:memory" : "pglite"]
      ]
    })
    return { client, notifications: hub.service }
  })

/** `SqlClient` on PGlite, in memory or persisted in `dataDir`, with the event feed's wake-ups. */
export const layer = (
  options: PgliteClientOptions = {}
): Layer.Layer<SqlClient.SqlClient | EventNotifications, SqlError> =>
  Layer.scopedContext(
    Effect.map(makeWithNotifications(options), ({ client, notifications }) =>
      Context.make(SqlClient.SqlClient, client).pipe(Context.add(EventNotifications, notifications))
    )
  ).pipe(Layer.provide(Reactivity.layer))
