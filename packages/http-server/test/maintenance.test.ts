/**
 * The reaper: expired idempotency keys and old processed webhook deliveries go; everything younger stays.
 */
import { assert, layer } from "@effect/vitest"
import { ConversationRepository, EventLog, IdempotencyStore, layerUuidV7, nextConversationId } from "@parley/core"
import { TestData } from "@parley/core/testing"
import { WebhookDeliveries, WebhookInbox } from "@parley/postgres"
import { storage, TestDatabase } from "@parley/postgres/testing"
import { DateTime, Duration, Effect, Layer, Option, TestClock } from "effect"
import * as Maintenance from "../src/Maintenance.js"

const world = Layer.mergeAll(WebhookInbox.layer, WebhookDeliveries.layer, layerUuidV7).pipe(
  Layer.provideMerge(storage(TestDatabase.pglite))
)

const hours = (n: number) => DateTime.add(TestData.epoch, { hours: n })

layer(world)("Maintenance.reap", (it) => {
  it.effect("purges expired idempotency keys and webhook deliveries processed more than the kept time ago", () =>
    Effect.gen(function* () {
      const keys = yield* IdempotencyStore
      const inbox = yield* WebhookInbox.WebhookInbox
      const tenant = yield* TestData.seedTenant()
      const claim = (key: string, at: DateTime.Utc, fingerprint = "fp") =>
        keys.claim(tenant.businessId, key, fingerprint, {
          now: at,
          lockedUntil: DateTime.add(at, { minutes: 2 }),
          expiresAt: DateTime.add(at, { hours: 48 })
        })
      yield* claim("old-key", hours(0))
      yield* claim("young-key", hours(40))
      const old = yield* inbox.append({ body: '{"entry":"old"}', receivedAt: hours(0) })
      yield* inbox.markProcessed(old.id, hours(0))
      const young = yield* inbox.append({ body: '{"entry":"young"}', receivedAt: hours(40) })
      yield* inbox.markProcessed(young.id, hours(40))
      const pending = yield* inbox.append({ body: '{"entry":"pending"}', receivedAt: hours(0) })

      yield* TestClock.setTime(DateTime.toEpochMillis(hours(50)))
      const purged = yield* Maintenance.reap(Duration.hours(24))
      assert.deepStrictEqual(purged, { idempotencyKeys: 1, webhookDeliveries: 1, endpointDeliveries: 0, events: 0 })
      // A different request under a key that still exists is a mismatch; under a purged one it is a fresh claim.
      assert.strictEqual((yield* claim("old-key", hours(50), "other"))._tag, "Claimed")
      assert.strictEqual((yield* claim("young-key", hours(50), "other"))._tag, "Mismatch")
      const stillPending = yield* inbox.claim({ limit: 10, now: hours(50), leaseUntil: hours(51) })
      assert.deepStrictEqual(
        stillPending.map((d) => d.id),
        [pending.id]
      )
    })
  )
  it.effect("purges events older than their retention and keeps the younger ones", () =>
    Effect.gen(function* () {
      const conversations = yield* ConversationRepository
      const log = yield* EventLog
      const tenant = yield* TestData.seedTenant()
      const create = Effect.flatMap(nextConversationId, (id) =>
        conversations.findOrCreate(
          TestData.conversation({
            id,
            businessId: tenant.businessId,
            whatsappNumberId: tenant.number.id,
            customerPhone: TestData.phone(`4420${id.slice(-8).replace(/[^0-9]/g, "1")}`)
          })
        )
      )
      const feed = () => log.read(tenant.businessId, { after: Option.none(), limit: 100 })
      yield* create
      // The database stamps events with its own clock: the young one is stored a real second later.
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 1100)))
      yield* create
      const [old, young] = yield* feed()
      assert.isTrue(DateTime.lessThan(old!.recordedAt, DateTime.subtract(young!.recordedAt, { millis: 500 })))
      // The reaper's cutoff (its clock minus the retention) falls between the two.
      yield* TestClock.setTime(DateTime.toEpochMillis(DateTime.add(old!.recordedAt, { days: 7, millis: 500 })))
      const purged = yield* Maintenance.reap(Duration.hours(24), Duration.days(7))
      assert.isAtLeast(purged.events, 1)
      assert.strictEqual((yield* feed()).length, 1)
      // Within the retention, nothing goes.
      assert.strictEqual((yield* Maintenance.reap(Duration.hours(24), Duration.days(8))).events, 0)
    })
  )
})
