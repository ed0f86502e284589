/**
 * Retention of events against outbound webhook deliveries, on PGlite and PostgreSQL: the reaper forgets old events
 * and old final deliveries (with their attempts), but keeps an event that a pending delivery still has to send, so
 * the delivery is claimed later with its body intact. Events are inserted into `events` directly (as the outbox
 * would) with a chosen `recorded_at`; deliveries move through the real fan-out, claim and record.
 */
import { randomUUID } from "node:crypto"
import * as SqlClient from "@effect/sql/SqlClient"
import { type BusinessId, layerUuidV7 } from "@parley/core"
import { TestData } from "@parley/core/testing"
import { WebhookDeliveries, WebhookEndpoints, WebhookInbox } from "@parley/postgres"
import { storage, TestDatabase } from "@parley/postgres/testing"
import { DateTime, Duration, Effect, Layer, ManagedRuntime, Schedule, Schema, type Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Maintenance from "../src/Maintenance.js"

const target = await TestDatabase.resolvePostgres()
const engines = [
  { name: "PGlite", database: () => TestDatabase.pglite },
  ...(target._tag === "Unavailable"
    ? []
    : [{ name: "PostgreSQL", database: () => TestDatabase.postgres({ url: target.url }) }])
]

const Ids = Schema.Array(Schema.Struct({ id: Schema.String }))

for (const engine of engines) {
  describe(`event retention with webhook deliveries on ${engine.name}`, () => {
    const layer = Layer.mergeAll(WebhookEndpoints.layer, WebhookDeliveries.layer, WebhookInbox.layer).pipe(
      Layer.provideMerge(Layer.merge(storage(engine.database()), layerUuidV7))
    )
    let runtime: ManagedRuntime.ManagedRuntime<Layer.Layer.Success<typeof layer>, unknown>
    let businessId: BusinessId
    const run = <A, E>(effect: Effect.Effect<A, E, Layer.Layer.Success<typeof layer> | Scope.Scope>) =>
      runtime.runPromise(Effect.scoped(effect))

    beforeAll(async () => {
      runtime = ManagedRuntime.make(layer)
      businessId = (await run(TestData.seedTenant("Retention"))).businessId
    }, 60_000)
    afterAll(async () => {
      await runtime?.dispose()
    })

    /** Inserts an event stored at `recordedAt` and waits until the fan-out can see it (commit-safe horizon). */
    const recordEvent = (recordedAt: DateTime.Utc) =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const id = randomUUID()
        yield* sql`
          INSERT INTO events (id, business_id, type, occurred_at, recorded_at, data)
          VALUES (${id}, ${businessId}, 'message.received', ${DateTime.toDateUtc(recordedAt)},
            ${DateTime.toDateUtc(recordedAt)}, ${JSON.stringify({ text: id })}::jsonb)`
        yield* sql`
          SELECT 1 FROM events WHERE id = ${id} AND xid < pg_snapshot_xmin(pg_current_snapshot())`.pipe(
          Effect.filterOrFail((rows) => rows.length === 1),
          Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("30 seconds")))
        )
        return id
      })

    const eventsLeft = (ids: ReadonlyArray<string>) =>
      Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql`SELECT id FROM events WHERE id IN ${sql.in(ids)}`.pipe(Effect.flatMap(Schema.decodeUnknown(Ids)))
      ).pipe(Effect.map((rows) => rows.map((r) => r.id).sort()))

    const attemptsLeft = Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql`SELECT delivery_id AS id FROM webhook_endpoint_attempts WHERE business_id = ${businessId}`.pipe(
        Effect.flatMap(Schema.decodeUnknown(Ids))
      )
    ).pipe(Effect.map((rows) => rows.map((r) => r.id).sort()))

    it("keeps the events pending deliveries still need and forgets old final deliveries with their attempts", async () => {
      const now = DateTime.unsafeMake(Date.now())
      const old = DateTime.subtract(now, { days: 10 })
      const settled = DateTime.subtract(now, { days: 9 })
      const outcome = await run(
        Effect.gen(function* () {
          const endpoints = yield* WebhookEndpoints.WebhookEndpoints
          const deliveries = yield* WebhookDeliveries.WebhookDeliveries
          const { endpoint } = yield* endpoints.create(businessId, {
            url: "https://receiver.example/hook",
            eventTypes: []
          })
          const delivered = yield* recordEvent(old)
          const dead = yield* recordEvent(old)
          const retrying = yield* recordEvent(old)
          const young = yield* recordEvent(now)
          yield* deliveries.fanOut(old, 100)
          const claimed = yield* deliveries.claim({ owner: "test", now: old, leaseMs: 60_000, limit: 100 })
          expect(claimed.map((c) => c.event.id).sort()).toEqual([delivered, dead, retrying, young].sort())
          const deliveryOf = (eventId: string) => {
            const found = claimed.find((c) => c.event.id === eventId)
            if (found === undefined) throw new Error(`no delivery for ${eventId}`)
            return found
          }
          const settle = (eventId: string, at: DateTime.Utc, result: WebhookDeliveries.Outcome) =>
            deliveries.record(
              {
                businessId,
                deliveryId: deliveryOf(eventId).id,
                owner: "test",
                attempt: 1,
                startedAt: at,
                statusCode: result._tag === "Succeeded" ? 200 : 500,
                latencyMs: 5,
                error: null,
                responseExcerpt: null,
                outcome: result
              },
              { now: at, circuitAfterMs: Duration.toMillis(Duration.days(30)) }
            )
          yield* settle(delivered, settled, { _tag: "Succeeded" })
          yield* settle(dead, settled, { _tag: "Dead" })
          // Still retrying long after its event passed the retention (e.g. the receiver was down for days).
          yield* settle(retrying, settled, { _tag: "Retry", at: DateTime.add(now, { minutes: 1 }) })
          yield* settle(young, now, { _tag: "Succeeded" })
          const before = yield* attemptsLeft
          expect(before).toHaveLength(4)

          const purged = yield* Maintenance.reap(Duration.hours(24), Duration.days(7))
          return { endpointId: endpoint.id, delivered, dead, retrying, young, purged, deliveryOf }
        })
      )
      expect(outcome.purged.endpointDeliveries).toBe(2)
      expect(outcome.purged.events).toBe(2)
      const { delivered, dead, retrying, young } = outcome
      await run(
        Effect.gen(function* () {
          expect(yield* eventsLeft([delivered, dead, retrying, young])).toEqual([retrying, young].sort())
          // The attempts of the forgotten deliveries went with them (the foreign key cascades).
          expect(yield* attemptsLeft).toEqual([outcome.deliveryOf(retrying).id, outcome.deliveryOf(young).id].sort())
          const deliveries = yield* WebhookDeliveries.WebhookDeliveries
          const log = yield* deliveries.list(businessId, outcome.endpointId, { limit: 50 })
          expect(log.items.map((d) => d.eventId).sort()).toEqual([retrying, young].sort())
          // The retry is still claimed when due, with its event's body.
          const later = DateTime.add(now, { minutes: 2 })
          const [again, ...rest] = yield* deliveries.claim({ owner: "test", now: later, leaseMs: 60_000, limit: 100 })
          expect(rest).toEqual([])
          expect(again?.event).toMatchObject({ id: retrying, type: "message.received", data: { text: retrying } })
          // Once it is final and old, both it and its event go on a later pass.
          yield* deliveries.record(
            {
              businessId,
              deliveryId: outcome.deliveryOf(retrying).id,
              owner: "test",
              attempt: 2,
              startedAt: settled,
              statusCode: 200,
              latencyMs: 5,
              error: null,
              responseExcerpt: null,
              outcome: { _tag: "Succeeded" }
            },
            { now: settled, circuitAfterMs: Duration.toMillis(Duration.days(30)) }
          )
          const second = yield* Maintenance.reap(Duration.hours(24), Duration.days(7))
          expect(second).toMatchObject({ endpointDeliveries: 1, events: 1 })
          expect(yield* eventsLeft([retrying, young])).toEqual([young])
        })
      )
    }, 120_000)
  })
}
