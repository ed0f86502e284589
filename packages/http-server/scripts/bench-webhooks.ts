/**
 * Outbound webhook throughput of one process: N events recorded at once for one endpoint, delivered by one worker
 * (the service's own, on a PostgreSQL pool) to a fast local receiver that answers 204; prints events/s from the
 * first claim to the last acknowledgement.
 *
 *   node --conditions=@parley/source --import tsx packages/http-server/scripts/bench-webhooks.ts
 *
 * Env: `TEST_DATABASE_URL` (default postgres://postgres@127.0.0.1:5432/test; a fresh database is created and
 * dropped), `EVENTS` (default 20000), `BATCH` (default 1000), `CONCURRENCY` (default 200).
 */
import { randomUUID } from "node:crypto"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import * as SqlClient from "@effect/sql/SqlClient"
import { BusinessId, layerUuidV7 } from "@parley/core"
import { PostgresClient, Secrets, Storage, WebhookDeliveries, WebhookEndpoints } from "@parley/postgres"
import { DateTime, Effect, Layer, Logger, LogLevel, Redacted } from "effect"
import * as WebhookWorker from "../src/WebhookWorker.js"

const events = Number(process.env.EVENTS ?? 20_000)
const batchSize = Number(process.env.BATCH ?? 1000)
const concurrency = Number(process.env.CONCURRENCY ?? 200)

let received = 0
const receiver = createServer((request, response) => {
  request.resume()
  request.on("end", () => {
    received++
    response.writeHead(204).end()
  })
})
receiver.keepAliveTimeout = 60_000
await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve))
const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`

const program = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const businessId = BusinessId.make(randomUUID())
  yield* sql`INSERT INTO businesses (id, name) VALUES (${businessId}, 'Bench')`
  const endpoints = yield* WebhookEndpoints.WebhookEndpoints
  yield* endpoints.create(businessId, { url, eventTypes: [] })
  yield* sql`
    INSERT INTO events (id, business_id, type, occurred_at, data)
    SELECT gen_random_uuid(), ${businessId}, 'message.received', now(), jsonb_build_object('n', n, 'text', 'hello')
    FROM generate_series(1, ${events}) AS n`
  const worker = yield* WebhookWorker.make({ allowPrivateTargets: true, allowHttp: true, batchSize, concurrency })
  const started = performance.now()
  let attempted = 0
  while (received < events) {
    const round = yield* worker.round(yield* DateTime.now)
    attempted += round.attempted
    if (round.attempted === 0 && round.fannedOut === 0) yield* Effect.sleep("10 millis")
  }
  const seconds = (performance.now() - started) / 1000
  console.log(
    JSON.stringify({
      events,
      attempted,
      batchSize,
      concurrency,
      seconds: Number(seconds.toFixed(2)),
      eventsPerSecond: Math.round(events / seconds)
    })
  )
})

const serverUrl = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const database = `parley_bench_${randomUUID().slice(0, 8)}`
const databaseUrl = Object.assign(new URL(serverUrl), { pathname: `/${database}` }).toString()
const admin = (statement: string) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement)).pipe(
        Effect.provide(PostgresClient.layer({ url: Redacted.make(serverUrl), maxConnections: 1 }))
      )
    )
  )
await admin(`CREATE DATABASE ${database}`)

const layer = Layer.mergeAll(WebhookEndpoints.layer, WebhookDeliveries.layer).pipe(
  Layer.provideMerge(
    Layer.mergeAll(
      Storage.migrated(PostgresClient.layer({ url: Redacted.make(databaseUrl), maxConnections: 10 })),
      Secrets.layer(Redacted.make(Secrets.generateKey())).pipe(Layer.orDie),
      layerUuidV7
    )
  )
)

await Effect.runPromise(
  program.pipe(Effect.scoped, Effect.provide(layer), Logger.withMinimumLogLevel(LogLevel.Warning))
)
receiver.close()
await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
