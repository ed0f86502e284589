/**
 * `LISTEN` on the pool's `PgClient` (internal/listen.ts): a server that terminates the listening connection just as
 * its start-up completes must not end the process. Deterministic: the test holds the event loop (synchronously)
 * right after the connection's start-up message is written, terminates that backend from a child process once it
 * is ready, then lets go, so ReadyForQuery and the FATAL error arrive in one read, as they did in a fault run
 * (`pg_terminate_backend` during a restart). `@effect/sql-pg`'s own listen let that error end the process. Required
 * when `CI` or `TEST_DATABASE_URL` is set.
 */
import { spawnSync } from "node:child_process"
import * as SqlClient from "@effect/sql/SqlClient"
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Duration, Effect, Fiber, Redacted, Stream } from "effect"
import Pg from "pg"
import * as PostgresClient from "../src/PostgresClient.js"
import { TestDatabase } from "../src/testing/index.js"

const target = await TestDatabase.resolvePostgres()

if (target._tag !== "Unavailable") {
  const applicationName = `parley_listen_test_${process.pid}`

  /** Terminates, from another process, this application's backends that are ready and have run nothing yet. */
  const terminateFresh = (): number => {
    const script = `
      const pg = require("pg")
      const client = new pg.Client({ connectionString: process.env.URL })
      client.connect()
        .then(() => client.query("SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'idle' AND query = ''", [process.env.APP]))
        .then((r) => { process.stdout.write(String(r.rows[0].n)); return client.end() })`
    for (let attempt = 0; attempt < 100; attempt++) {
      const run = spawnSync(process.execPath, ["-e", script], {
        cwd: import.meta.dirname,
        env: { ...process.env, URL: target.url, APP: applicationName },
        encoding: "utf8"
      })
      const terminated = Number(run.stdout)
      if (terminated > 0) return terminated
    }
    return 0
  }

  const client = PostgresClient.layer({ url: Redacted.make(target.url), maxConnections: 1, applicationName })

  layer(client, { timeout: Duration.minutes(1), excludeTestServices: true })("LISTEN on PostgreSQL", (it) => {
    it.effect("a listening connection terminated as its start-up completes does not end the process", () =>
      Effect.gen(function* () {
        const pg = yield* PgClient.PgClient
        const sql = yield* SqlClient.SqlClient
        let terminated = 0
        // node-postgres writes the start-up message in `Connection#startup` (not in its types).
        const connection = Pg.Connection.prototype as unknown as { startup: (config: unknown) => void }
        const startup = connection.startup
        connection.startup = function (this: unknown, config: unknown) {
          startup.call(this, config)
          connection.startup = startup
          // After this tick the backend answers; hold the loop until it has been terminated too.
          setImmediate(() => {
            terminated = terminateFresh()
          })
        }
        try {
          yield* pg.listen("parley_listen_test").pipe(Stream.runDrain, Effect.timeout("1 second"), Effect.ignore)
        } finally {
          connection.startup = startup
        }
        assert.strictEqual(terminated, 1)
        // A new stream listens on a new connection and is notified.
        const received = yield* Effect.fork(pg.listen("parley_listen_test").pipe(Stream.take(1), Stream.runCollect))
        yield* Effect.sleep("300 millis")
        yield* sql`SELECT pg_notify('parley_listen_test', 'after')`
        const payloads = yield* Fiber.join(received).pipe(Effect.timeout("5 seconds"))
        assert.deepStrictEqual(Array.from(payloads), ["after"])
      })
    )
  })
}
