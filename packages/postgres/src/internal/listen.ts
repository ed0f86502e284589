/**
 * `LISTEN` for the pool's `PgClient`, in place of `@effect/sql-pg`'s own, which attaches its connection's `error`
 * listener only once `connect()` has resolved.
 *
 * A backend terminated just as its start-up completes (`pg_terminate_backend`, a server restart, a failover) sends
 * ReadyForQuery and the FATAL error back to back; read in one chunk, node-postgres handles the error before the
 * `await` can resume, finds no listener, and the `error` event ends the process. Here the listener is on the client
 * before it connects. Otherwise the same: one connection shared by every channel's stream (a reference-counted
 * resource, ended when the last stream stops), notifications of the channel emitted, `UNLISTEN` when a stream stops.
 */
import { SqlError } from "@effect/sql/SqlError"
import { Effect, RcRef, type Scope, Stream } from "effect"
import Pg from "pg"

const ignore = () => {}

/** `PgClient.listen` on a connection of its own, made with the pool's options. */
export const make = (
  pool: Pg.Pool
): Effect.Effect<(channel: string) => Stream.Stream<string, SqlError>, never, Scope.Scope> =>
  Effect.map(
    RcRef.make({
      acquire: Effect.acquireRelease(
        Effect.tryPromise({
          try: async () => {
            const client = new Pg.Client(pool.options)
            client.on("error", ignore)
            await client.connect()
            return client
          },
          catch: (cause) => new SqlError({ cause, message: "Failed to acquire connection for listen" })
        }),
        // The listener stays on: the connection may still report an error while it ends.
        (client) => Effect.promise(() => client.end()).pipe(Effect.interruptible, Effect.timeoutOption(1000))
      )
    }),
    (connection) => (channel) =>
      Stream.asyncPush<string, SqlError>((emit) =>
        Effect.gen(function* () {
          const client = yield* RcRef.get(connection)
          const onNotification = (message: Pg.Notification) => {
            if (message.channel === channel && message.payload !== undefined) emit.single(message.payload)
          }
          yield* Effect.addFinalizer(() =>
            Effect.promise(() => {
              client.off("notification", onNotification)
              return client.query(`UNLISTEN ${Pg.escapeIdentifier(channel)}`).catch(ignore)
            })
          )
          yield* Effect.tryPromise({
            try: () => client.query(`LISTEN ${Pg.escapeIdentifier(channel)}`),
            catch: (cause) => new SqlError({ cause, message: "Failed to listen" })
          })
          client.on("notification", onNotification)
        })
      )
  )
