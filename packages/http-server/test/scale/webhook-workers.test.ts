/**
 * Two Parley processes delivering outbound webhooks from one PostgreSQL database to one receiver: every event
 * reaches the receiver exactly once (each attempt is leased to one process before it is sent), every delivery is
 * `succeeded` after one attempt. The receiver verifies with `standardwebhooks`.
 */
import { randomUUID } from "node:crypto"
import * as Path from "node:path"
import * as SqlClient from "@effect/sql/SqlClient"
import { BusinessId, layerUuidV7 } from "@parley/core"
import { PostgresClient, Secrets, WebhookEndpoints } from "@parley/postgres"
import { TestDatabase } from "@parley/postgres/testing"
import { Effect, Layer, ManagedRuntime, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startReceiver } from "../support/WebhookReceiver.js"
import { type Child, packageDir, type SharedDatabase, sharedDatabase, spawnScript } from "./support/Processes.js"
import type { WorkerConfig } from "./support/webhookWorker.js"

const target = await TestDatabase.resolvePostgres()
const workerScript = Path.join(packageDir, "test/scale/support/webhookWorker.ts")
const events = 400

if (target._tag !== "Unavailable") {
  describe("two processes delivering webhooks from one database", () => {
    let db: SharedDatabase
    beforeAll(async () => {
      db = await sharedDatabase(target.url)
    }, 120_000)
    afterAll(async () => {
      await db?.close()
    })

    it("deliver every event exactly once between them", async () => {
      const runtime = ManagedRuntime.make(
        WebhookEndpoints.layer.pipe(
          Layer.provideMerge(
            Layer.mergeAll(
              PostgresClient.layer({ url: Redacted.make(db.url), maxConnections: 2 }),
              Secrets.layer(Redacted.make(db.secretKey)),
              layerUuidV7
            )
          )
        )
      )
      const receiver = await startReceiver()
      const children: Array<Child> = []
      try {
        const businessId = randomUUID()
        const created = await runtime.runPromise(
          Effect.gen(function* () {
            const sql = yield* SqlClient.SqlClient
            yield* sql`INSERT INTO businesses (id, name) VALUES (${businessId}, 'Scale')`
            const endpoints = yield* WebhookEndpoints.WebhookEndpoints
            return yield* endpoints.create(BusinessId.make(businessId), { url: receiver.url, eventTypes: [] })
          })
        )
        receiver.secrets = [Redacted.value(created.secret)]
        const config: WorkerConfig = { databaseUrl: db.url, secretKey: db.secretKey, batchSize: 20, concurrency: 10 }
        for (let i = 0; i < 2; i++) children.push(spawnScript(workerScript, { WORKER_CONFIG: JSON.stringify(config) }))
        await Promise.all(children.map((c) => c.line(/^ready$/)))
        await runtime.runPromise(
          Effect.gen(function* () {
            const sql = yield* SqlClient.SqlClient
            for (let i = 0; i < events; i++) {
              yield* sql`
                INSERT INTO events (id, business_id, type, occurred_at, data)
                VALUES (${randomUUID()}, ${businessId}, 'message.received', now(), ${JSON.stringify({ n: i })}::jsonb)`
            }
          })
        )
        const until = Date.now() + 120_000
        while (receiver.received.length < events && Date.now() < until) {
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
        // Anything delivered twice would arrive about now.
        await new Promise((resolve) => setTimeout(resolve, 1_000))
        const ids = receiver.received.map((r) => String(r.headers["webhook-id"]))
        expect(ids).toHaveLength(events)
        expect(new Set(ids).size).toBe(events)
        expect(receiver.received.every((r) => r.verifiedBy.length === 1)).toBe(true)
        const rows = await runtime.runPromise(
          Effect.flatMap(
            SqlClient.SqlClient,
            (sql) => sql`
              SELECT d.status, d.attempts::int AS attempts, count(*)::int AS n
              FROM webhook_endpoint_deliveries d GROUP BY d.status, d.attempts`
          )
        )
        expect(rows).toEqual([{ status: "succeeded", attempts: 1, n: events }])
      } finally {
        await Promise.all(children.map((c) => c.stop()))
        await receiver.close()
        await runtime.dispose()
      }
    }, 240_000)
  })
}
