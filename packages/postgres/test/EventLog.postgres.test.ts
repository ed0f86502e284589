/**
 * The event contract on PostgreSQL, with LISTEN/NOTIFY wake-ups, in a fresh database created for this file; then
 * what only a server with concurrent sessions can show: a transaction that commits late is never stepped over by
 * the feed, a rolled-back transaction leaves no event, and an event written by one process (its own pool) reaches
 * a follower on another through NOTIFY, long before its poll would. Required when `CI` or `TEST_DATABASE_URL` is set.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, layer } from "@effect/vitest"
import {
  ConversationRepository,
  EventLog,
  layerUuidV7,
  type MessageId,
  MessageRepository,
  nextConversationId,
  nextMessageId,
  type RecordedEvent
} from "@parley/core"
import { runEventLogContract, type StorageSeeder, TestData } from "@parley/core/testing"
import { Chunk, Context, Deferred, Duration, Effect, Fiber, Layer, Option, Schedule, Stream } from "effect"
import * as EventNotifications from "../src/EventNotifications.js"
import * as PostgresClient from "../src/PostgresClient.js"
import * as SqlEventLog from "../src/SqlEventLog.js"
import * as Storage from "../src/Storage.js"
import { SqlStorageSeeder, TestDatabase } from "../src/testing/index.js"

const target = await TestDatabase.resolvePostgres()

/** One Parley "process" on the fresh database: its own pool, LISTEN connection and storage ports. */
const processOn = (pollInterval: Duration.DurationInput) =>
  Layer.unwrapEffect(
    Effect.map(TestDatabase.FreshDatabase, (database) => {
      const client = PostgresClient.layer({ url: database.url, maxConnections: 10 })
      return Layer.mergeAll(Storage.layer, SqlEventLog.layer({ pollInterval }), SqlStorageSeeder.layer).pipe(
        Layer.provideMerge(
          Layer.mergeAll(
            Storage.migrated(client),
            EventNotifications.layerPg.pipe(Layer.provide(client)),
            TestDatabase.secrets
          )
        )
      )
    })
  )

type Process = Storage.Ports | StorageSeeder | SqlClient.SqlClient

class ProcessA extends Context.Tag("test/ProcessA")<ProcessA, Context.Context<Process>>() {}
class ProcessB extends Context.Tag("test/ProcessB")<ProcessB, Context.Context<Process>>() {}

const build = <I>(tag: Context.Tag<I, Context.Context<Process>>, pollInterval: Duration.DurationInput) =>
  Layer.scoped(tag, Layer.build(Layer.fresh(processOn(pollInterval))))

if (target._tag !== "Unavailable") {
  runEventLogContract("PostgreSQL", processOn(Duration.seconds(2)).pipe(Layer.provide(TestDatabase.fresh(target.url))))

  const waitFor = (businessId: TestData.Tenant["businessId"], count: number) =>
    Effect.flatMap(EventLog, (log) => log.read(businessId, { after: Option.none(), limit: 1000 })).pipe(
      Effect.filterOrFail(
        (rows) => rows.length >= count,
        () => "not yet"
      ),
      Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo(Duration.seconds(30))))
    )

  const inbound = (tenant: TestData.Tenant) =>
    Effect.gen(function* () {
      const conversationId = yield* nextConversationId
      const id = yield* nextMessageId
      return yield* Effect.flatMap(MessageRepository, (messages) =>
        messages.recordInbound({
          conversation: TestData.conversation({
            id: conversationId,
            businessId: tenant.businessId,
            whatsappNumberId: tenant.number.id,
            customerPhone: TestData.phone(`4470${Math.floor(Math.random() * 1e9)}`)
          }),
          message: TestData.message({
            id,
            businessId: tenant.businessId,
            conversationId,
            providerMessageId: `wamid.PG${id}`
          }),
          customerName: Option.none(),
          opensWindow: true
        })
      )
    })

  layer(
    Layer.mergeAll(build(ProcessA, Duration.minutes(5)), build(ProcessB, Duration.minutes(5)), layerUuidV7).pipe(
      Layer.provideMerge(TestDatabase.fresh(target.url))
    ),
    { excludeTestServices: true, timeout: Duration.minutes(2) }
  )("events on PostgreSQL", (it) => {
    const inA = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.flatMap(ProcessA, (context) => Effect.provide(effect, context))
    const inB = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.flatMap(ProcessB, (context) => Effect.provide(effect, context))

    it.effect("a transaction that commits late is served before later ones, never stepped over", () =>
      inA(
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const log = yield* EventLog
          const tenant = yield* TestData.seedTenant()
          const started = yield* Deferred.make<void>()
          const release = yield* Deferred.make<void>()
          // A: records its events, then stays open.
          const slow = yield* sql
            .withTransaction(
              Effect.zipRight(
                inbound(tenant),
                Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(release))
              )
            )
            .pipe(Effect.fork)
          yield* Deferred.await(started)
          // B: starts later, commits first.
          yield* inbound(tenant)
          // While A is open, nothing of B is served (it would let a consumer's cursor pass A's events).
          yield* Effect.sleep("300 millis")
          const during = yield* log.read(tenant.businessId, { after: Option.none(), limit: 100 })
          assert.strictEqual(during.length, 0)
          yield* Deferred.succeed(release, undefined)
          yield* Fiber.join(slow)
          const after = yield* waitFor(tenant.businessId, 4)
          assert.strictEqual(after.length, 4)
          // A's two events (its conversation, its message) come first: their transaction is older.
          const first = after.slice(0, 2).map((row) => row.event.conversationId)
          assert.strictEqual(first[0], first[1])
        })
      )
    )

    it.effect("a rolled-back transaction leaves neither the change nor its events", () =>
      inA(
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const conversations = yield* ConversationRepository
          const tenant = yield* TestData.seedTenant()
          const failed = yield* sql
            .withTransaction(Effect.zipRight(inbound(tenant), Effect.fail("crash after the write" as const)))
            .pipe(Effect.either)
          assert.strictEqual(failed._tag, "Left")
          const marker = yield* inbound(tenant)
          const feed = yield* waitFor(tenant.businessId, 2)
          assert.strictEqual(feed.length, 2)
          assert.strictEqual(marker._tag, "Recorded")
          const list = yield* conversations.list(tenant.businessId, { limit: 10 })
          assert.strictEqual(list.length, 1)
        })
      )
    )

    it.effect("an event written by one process reaches a follower on another by NOTIFY, not by polling", () =>
      Effect.gen(function* () {
        const tenant = yield* inA(TestData.seedTenant())
        // Both processes poll only every 5 minutes: what arrives within the timeout came by notification.
        const follower = yield* inB(
          Effect.flatMap(EventLog, (log) =>
            log.subscribe(tenant.businessId, { after: Option.none() }).pipe(Stream.take(2), Stream.runCollect)
          )
        ).pipe(Effect.fork)
        yield* Effect.sleep("500 millis")
        yield* inA(inbound(tenant))
        const received: ReadonlyArray<RecordedEvent> = Chunk.toReadonlyArray(
          yield* Fiber.join(follower).pipe(Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => "no wake" }))
        )
        assert.deepStrictEqual(
          received.map((row) => row.event.type),
          ["conversation.created", "message.received"]
        )
      })
    )

    it.effect("the events a send records in the statements of its change wake a follower on another process", () =>
      Effect.gen(function* () {
        const tenant = yield* inA(TestData.seedTenant())
        const recorded = yield* inA(inbound(tenant))
        if (recorded._tag !== "Recorded") return assert.fail("the inbound message was not recorded")
        const conversationId = recorded.conversation.id
        const history = yield* inB(waitFor(tenant.businessId, 2))
        const cursor = Option.fromNullable(history.at(-1)?.cursor)
        // From the last event of the history on, so the follower's start does not race the writes below.
        const follower = yield* inB(
          Effect.flatMap(EventLog, (log) =>
            log.subscribe(tenant.businessId, { after: cursor }).pipe(Stream.take(2), Stream.runCollect)
          )
        ).pipe(Effect.fork)
        yield* inA(
          Effect.gen(function* () {
            const messages = yield* MessageRepository
            const send = (id: MessageId) =>
              messages.recordOutbound({
                message: TestData.message({
                  id,
                  businessId: tenant.businessId,
                  conversationId,
                  direction: "outbound",
                  deliveryStatus: "pending"
                }),
                idempotencyKey: Option.none()
              })
            const sent = yield* send(yield* nextMessageId)
            yield* messages.markSent(tenant.businessId, sent.id, `wamid.PGSENT${sent.id}`)
          })
        )
        const received: ReadonlyArray<RecordedEvent> = Chunk.toReadonlyArray(
          yield* Fiber.join(follower).pipe(Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => "no wake" }))
        )
        assert.deepStrictEqual(
          received.map((row) => `${row.event.type}#${row.event.sequence}`),
          ["message.sent#3", "message.status_updated#4"]
        )
      })
    )
  })
}
