/**
 * `markSent` is one call of `parley_mark_sent` (migration 0016). Its query must read a snapshot taken after the
 * provider id's advisory lock is held: a status parked by a transaction that held the lock before (a status webhook
 * that arrived before the send was marked) is then drained, never left parked behind a `sent`. Deterministic: the
 * lock is held by a transaction of the test's own, which parks a `delivered` and commits while the mark waits.
 * Required when `CI` or `TEST_DATABASE_URL` is set.
 */
import { assert, layer } from "@effect/vitest"
import { ConversationRepository, layerUuidV7, MessageRepository, nextConversationId, nextMessageId } from "@parley/core"
import { TestData } from "@parley/core/testing"
import { Duration, Effect, Fiber, Layer, Option, Redacted } from "effect"
import Pg from "pg"
import * as Storage from "../src/Storage.js"
import { SqlStorageSeeder, TestDatabase } from "../src/testing/index.js"

const target = await TestDatabase.resolvePostgres()

if (target._tag !== "Unavailable") {
  const stack = Layer.mergeAll(Storage.layer, SqlStorageSeeder.layer).pipe(
    Layer.provideMerge(Layer.merge(TestDatabase.postgres({ url: target.url }), TestDatabase.secrets)),
    Layer.provideMerge(layerUuidV7)
  )

  layer(stack, { timeout: Duration.minutes(1), excludeTestServices: true })("parley_mark_sent on PostgreSQL", (it) => {
    it.effect("waits for the provider id's lock, then drains the status its previous holder parked", () =>
      Effect.gen(function* () {
        const tenant = yield* TestData.seedTenant()
        const conversation = yield* (yield* ConversationRepository).findOrCreate(
          TestData.conversation({
            id: yield* nextConversationId,
            businessId: tenant.businessId,
            whatsappNumberId: tenant.number.id,
            customerPhone: TestData.phone("447700900123")
          })
        )
        const messages = yield* MessageRepository
        const message = yield* messages.recordOutbound({
          message: TestData.message({
            id: yield* nextMessageId,
            businessId: tenant.businessId,
            conversationId: conversation.id,
            direction: "outbound",
            deliveryStatus: "pending",
            createdAt: TestData.at(1)
          }),
          idempotencyKey: Option.none()
        })
        const wamid = "wamid.MARKSENT.LOCK"
        const database = yield* TestDatabase.FreshDatabase
        const holder = new Pg.Client({ connectionString: Redacted.value(database.url) })
        yield* Effect.promise(() => holder.connect())
        try {
          // The lock's holder parks a `delivered` for the provider id, as applyStatus does for an unknown id.
          yield* Effect.promise(async () => {
            await holder.query("BEGIN")
            await holder.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [
              `${tenant.businessId}:${wamid}`
            ])
            await holder.query(
              "INSERT INTO message_status_events (business_id, provider_message_id, status, occurred_at, parked) " +
                "VALUES ($1, $2, 'delivered', now(), true)",
              [tenant.businessId, wamid]
            )
          })
          const marking = yield* Effect.fork(messages.markSent(tenant.businessId, message.id, wamid))
          // The mark waits on the lock; the parked status commits meanwhile.
          yield* Effect.sleep(Duration.millis(300))
          assert.isNull(marking.unsafePoll(), "markSent waits for the provider id's lock")
          yield* Effect.promise(() => holder.query("COMMIT"))
          const marked = yield* Fiber.join(marking)
          assert.strictEqual(Option.getOrThrow(marked).deliveryStatus, "delivered")
          const parked = yield* Effect.promise(() =>
            holder.query(
              "SELECT parked FROM message_status_events WHERE business_id = $1 AND provider_message_id = $2",
              [tenant.businessId, wamid]
            )
          )
          assert.deepStrictEqual(parked.rows, [{ parked: false }])
        } finally {
          yield* Effect.promise(() => holder.end())
        }
      })
    )
  })
}
