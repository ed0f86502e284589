/**
 * The contract of the transactional outbox and its `EventLog`: every change of the storage ports records exactly
 * its events, in order, with per-conversation sequences 1, 2, 3…; a failed change records none; the feed pages
 * without gaps or repeats, also while many writers commit concurrently (out of order); a business sees only its own
 * events; the types filter; following the feed from a cursor; retention.
 *
 * Every test works in fresh tenants, so the suite may share its database with others. Reads wait until the events
 * they expect are servable: a SQL feed serves a commit only once no older transaction is still running on the
 * server, which another test's transaction may briefly delay.
 */
import { assert, layer } from "@effect/vitest"
import { Chunk, DateTime, Duration, Effect, Fiber, Layer, Option, Schedule, Stream } from "effect"
import { ConversationPatch } from "../../Conversation.js"
import { ConversationRepository } from "../../ConversationRepository.js"
import { type Event, type EventType, messageEvent } from "../../Event.js"
import { EventLog, type RecordedEvent } from "../../EventLog.js"
import {
  type BusinessId,
  type ConversationId,
  layerUuidV7,
  nextConversationId,
  nextMessageId,
  nextTemplateId
} from "../../Ids.js"
import { DeliveryFailure } from "../../Message.js"
import { MessageRepository } from "../../MessageRepository.js"
import { messageJson } from "../../Representation.js"
import { TemplateCatalog } from "../../TemplateCatalog.js"
import type { StorageSeeder } from "../StorageSeeder.js"
import * as TestData from "../TestData.js"
import { receive as receiveIn, sendPending } from "./StorageFixtures.js"

export type EventLogPorts = EventLog | ConversationRepository | MessageRepository | TemplateCatalog | StorageSeeder

let wamids = 0
const wamid = () => `wamid.EVENTS${++wamids}`
let phones = 0
const phone = () => TestData.phone(`4479${String(++phones).padStart(9, "0")}`)

const readAll = (businessId: BusinessId, types?: ReadonlyArray<EventType>) =>
  Effect.flatMap(EventLog, (log) => log.read(businessId, { after: Option.none(), types, limit: 10_000 }))

/** The business's feed once it holds at least `count` events (then exactly what it holds). */
const feedOf = (businessId: BusinessId, count: number, types?: ReadonlyArray<EventType>) =>
  readAll(businessId, types).pipe(
    Effect.filterOrFail(
      (rows) => rows.length >= count,
      () => "not yet"
    ),
    Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo(Duration.seconds(30)))),
    Effect.orElse(() => readAll(businessId, types))
  )

const summary = (rows: ReadonlyArray<RecordedEvent>) =>
  rows.map(({ event }) => `${event.type}#${event.sequence ?? "-"}`)

const newConversation = (tenant: TestData.Tenant) =>
  Effect.gen(function* () {
    const id = yield* nextConversationId
    return yield* Effect.flatMap(ConversationRepository, (repo) =>
      repo.findOrCreate(
        TestData.conversation({
          id,
          businessId: tenant.businessId,
          whatsappNumberId: tenant.number.id,
          customerPhone: phone()
        })
      )
    )
  })

const receive = (tenant: TestData.Tenant, conversationId: ConversationId, minutes = 1) =>
  Effect.gen(function* () {
    const conversations = yield* ConversationRepository
    const conversation = Option.getOrThrow(yield* conversations.findById(tenant.businessId, conversationId))
    return yield* receiveIn(conversation, tenant, wamid(), TestData.at(minutes))
  })

const send = (tenant: TestData.Tenant, conversationId: ConversationId, minutes = 2) =>
  sendPending(conversationId, tenant, TestData.at(minutes), { text: "On its way" })

const dataOf = <T extends Event["type"]>(event: Event, type: T) => {
  assert.strictEqual(event.type, type)
  return event.data as Extract<Event, { type: T }>["data"]
}

/**
 * Registers the event contract for an adapter. `storage` provides the storage ports, the seeder and `EventLog`;
 * it is built once for the whole suite.
 */
export const runEventLogContract = <E>(name: string, storage: Layer.Layer<EventLogPorts, E>): void => {
  layer(Layer.merge(storage, layerUuidV7), { excludeTestServices: true, timeout: Duration.minutes(2) })(
    `event contract: ${name}`,
    (it) => {
      it.effect("each change records exactly its events, in order, with the conversation's sequence", () =>
        Effect.gen(function* () {
          const conversations = yield* ConversationRepository
          const messages = yield* MessageRepository
          const tenant = yield* TestData.seedTenant()
          const conversation = yield* newConversation(tenant)
          // An existing conversation found again records nothing.
          yield* conversations.findOrCreate(conversation)
          yield* receive(tenant, conversation.id)
          const sent = yield* send(tenant, conversation.id)
          const provider = wamid()
          yield* messages.markSent(tenant.businessId, sent.id, provider)
          const delivered = {
            providerMessageId: provider,
            status: "delivered" as const,
            timestamp: TestData.at(3),
            failure: Option.none(),
            messageId: Option.none()
          }
          yield* messages.applyStatus(tenant.businessId, delivered)
          // A duplicate status changes nothing, so it records nothing.
          yield* messages.applyStatus(tenant.businessId, delivered)
          yield* conversations.update(
            tenant.businessId,
            conversation.id,
            new ConversationPatch({ assignedUserId: tenant.userId, status: "resolved" })
          )
          yield* conversations.markRead(tenant.businessId, conversation.id)
          // Nothing left unread: nothing changes, nothing is recorded.
          yield* conversations.markRead(tenant.businessId, conversation.id)
          const failing = yield* send(tenant, conversation.id, 4)
          yield* messages.markFailed(tenant.businessId, failing.id, new DeliveryFailure({ code: 131026, title: "x" }))

          const feed = yield* feedOf(tenant.businessId, 9)
          assert.deepStrictEqual(summary(feed), [
            "conversation.created#1",
            "message.received#2",
            "message.sent#3",
            "message.status_updated#4",
            "message.status_updated#5",
            "conversation.updated#6",
            "conversation.updated#7",
            "message.sent#8",
            "message.status_updated#9"
          ])
          const events = feed.map((row) => row.event)
          assert.isTrue(new Set(events.map((e) => e.id)).size === events.length)
          for (const event of events) {
            assert.strictEqual(event.businessId, tenant.businessId)
            assert.strictEqual(event.conversationId, conversation.id)
          }
          const [created, received, outbound, accepted, reached, assigned, read, , failed] = events
          assert.strictEqual(dataOf(created!, "conversation.created").conversation.id, conversation.id)
          const inbound = dataOf(received!, "message.received")
          assert.strictEqual(inbound.message.direction, "inbound")
          assert.strictEqual(inbound.conversation?.unreadCount, 1)
          assert.strictEqual(dataOf(outbound!, "message.sent").message.deliveryStatus, "pending")
          assert.strictEqual(dataOf(outbound!, "message.sent").conversation?.status, "pending_customer")
          assert.strictEqual(dataOf(accepted!, "message.status_updated").message.deliveryStatus, "sent")
          assert.strictEqual(dataOf(accepted!, "message.status_updated").message.providerMessageId, provider)
          assert.strictEqual(dataOf(reached!, "message.status_updated").message.deliveryStatus, "delivered")
          const updated = dataOf(assigned!, "conversation.updated").conversation
          assert.strictEqual(updated.assignedUserId, tenant.userId)
          assert.strictEqual(updated.status, "resolved")
          assert.strictEqual(dataOf(read!, "conversation.updated").conversation.unreadCount, 0)
          assert.deepStrictEqual(dataOf(failed!, "message.status_updated").message.failure, {
            code: 131026,
            title: "x"
          })
        })
      )

      it.effect("a status that arrives before its message is recorded when the message gets it", () =>
        Effect.gen(function* () {
          const messages = yield* MessageRepository
          const tenant = yield* TestData.seedTenant()
          const conversation = yield* newConversation(tenant)
          const sent = yield* send(tenant, conversation.id)
          const provider = wamid()
          const parked = yield* messages.applyStatus(tenant.businessId, {
            providerMessageId: provider,
            status: "read",
            timestamp: TestData.at(3),
            failure: Option.none(),
            messageId: Option.none()
          })
          assert.strictEqual(parked._tag, "Parked")
          yield* messages.markSent(tenant.businessId, sent.id, provider)
          const feed = yield* feedOf(tenant.businessId, 3)
          assert.deepStrictEqual(summary(feed), [
            "conversation.created#1",
            "message.sent#2",
            "message.status_updated#3"
          ])
          assert.strictEqual(dataOf(feed[2]!.event, "message.status_updated").message.deliveryStatus, "read")
        })
      )

      it.effect("a message event's data is the JSON of the message and its conversation after the change", () =>
        Effect.gen(function* () {
          const messages = yield* MessageRepository
          const conversations = yield* ConversationRepository
          const tenant = yield* TestData.seedTenant()
          const conversation = yield* newConversation(tenant)
          const now = yield* DateTime.now
          // A customer's message a minute ago: the window is open when the events are recorded.
          yield* messages.recordInbound({
            conversation,
            message: TestData.message({
              id: yield* nextMessageId,
              businessId: tenant.businessId,
              conversationId: conversation.id,
              providerMessageId: wamid(),
              createdAt: DateTime.subtract(now, { minutes: 1 })
            }),
            customerName: Option.some("Ada"),
            opensWindow: true
          })
          const outbound = TestData.message({
            id: yield* nextMessageId,
            businessId: tenant.businessId,
            conversationId: conversation.id,
            direction: "outbound",
            deliveryStatus: "pending",
            text: "On its way",
            createdAt: now
          })
          yield* messages.recordOutbound({ message: outbound, idempotencyKey: Option.none() })
          const after = Option.getOrThrow(yield* conversations.findById(tenant.businessId, conversation.id))
          // A failure parked ahead of markSent: markSent applies it, and one event carries the final message.
          const provider = wamid()
          yield* messages.applyStatus(tenant.businessId, {
            providerMessageId: provider,
            status: "failed",
            timestamp: now,
            failure: Option.some(new DeliveryFailure({ code: 131047, title: "Re-engagement message" })),
            messageId: Option.none()
          })
          const marked = Option.getOrThrow(yield* messages.markSent(tenant.businessId, outbound.id, provider))
          assert.strictEqual(marked.deliveryStatus, "failed")
          const feed = yield* feedOf(tenant.businessId, 4)
          assert.deepStrictEqual(summary(feed), [
            "conversation.created#1",
            "message.received#2",
            "message.sent#3",
            "message.status_updated#4"
          ])
          const sent = feed[2]!.event
          const expected = messageEvent("message.sent", outbound, after, DateTime.unsafeMake(sent.occurredAt)).data
          assert.deepStrictEqual(sent.data, expected)
          assert.isNotNull(dataOf(sent, "message.sent").conversation?.windowClosesAt)
          assert.deepStrictEqual(feed[3]!.event.data, { message: messageJson(marked) })
          assert.deepStrictEqual(dataOf(feed[3]!.event, "message.status_updated").message.failure, {
            code: 131047,
            title: "Re-engagement message"
          })
        })
      )

      it.effect("a batch of inbound messages records a conversation for each new customer and one event each", () =>
        Effect.gen(function* () {
          const messages = yield* MessageRepository
          const tenant = yield* TestData.seedTenant()
          const customers = [phone(), phone()]
          const records = yield* Effect.forEach([0, 1, 0, 1, 0], (who, i) =>
            Effect.gen(function* () {
              const conversationId = yield* nextConversationId
              const id = yield* nextMessageId
              return {
                conversation: TestData.conversation({
                  id: conversationId,
                  businessId: tenant.businessId,
                  whatsappNumberId: tenant.number.id,
                  customerPhone: customers[who]!
                }),
                message: TestData.message({
                  id,
                  businessId: tenant.businessId,
                  conversationId,
                  providerMessageId: wamid(),
                  createdAt: TestData.at(i)
                }),
                customerName: Option.none(),
                opensWindow: true
              }
            })
          )
          // The last repeats the first provider id: a duplicate records nothing.
          const duplicate = { ...records[0]!, message: TestData.message({ ...records[0]!.message }) }
          yield* messages.recordInboundBatch([...records, duplicate])
          const feed = yield* feedOf(tenant.businessId, 7)
          assert.strictEqual(feed.length, 7)
          const byConversation = new Map<string, Array<string>>()
          for (const { event } of feed) {
            const list = byConversation.get(event.conversationId ?? "") ?? []
            list.push(`${event.type}#${event.sequence}`)
            byConversation.set(event.conversationId ?? "", list)
          }
          const shapes = [...byConversation.values()].map((list) => list.join(" ")).sort()
          assert.deepStrictEqual(shapes, [
            "conversation.created#1 message.received#2 message.received#3",
            "conversation.created#1 message.received#2 message.received#3 message.received#4"
          ])
        })
      )

      it.effect("a failed change records nothing", () =>
        Effect.gen(function* () {
          const tenant = yield* TestData.seedTenant()
          const missing = yield* nextConversationId
          const result = yield* Effect.either(send(tenant, missing))
          assert.strictEqual(result._tag, "Left")
          // A marker event after it, so the read below waits for anything the failure might have left.
          const conversation = yield* newConversation(tenant)
          yield* receive(tenant, conversation.id)
          const feed = yield* feedOf(tenant.businessId, 2)
          assert.deepStrictEqual(summary(feed), ["conversation.created#1", "message.received#2"])
        })
      )

      it.effect("template status changes are events; an unchanged status is not", () =>
        Effect.gen(function* () {
          const catalog = yield* TemplateCatalog
          const tenant = yield* TestData.seedTenant()
          const id = yield* nextTemplateId
          const template = TestData.template({ id, businessId: tenant.businessId, status: "PENDING" })
          yield* catalog.upsert(template)
          yield* catalog.upsert(template)
          yield* catalog.upsert(TestData.template({ id, businessId: tenant.businessId, status: "APPROVED" }))
          const feed = yield* feedOf(tenant.businessId, 2)
          assert.deepStrictEqual(summary(feed), ["template.status_updated#-", "template.status_updated#-"])
          const [first, second] = feed.map((row) => dataOf(row.event, "template.status_updated").template)
          assert.deepStrictEqual([first?.previousStatus, first?.status], [null, "PENDING"])
          assert.deepStrictEqual([second?.previousStatus, second?.status], ["PENDING", "APPROVED"])
          assert.strictEqual(feed[0]!.event.conversationId, null)
        })
      )

      it.effect("a business sees only its own events, and the types filter keeps only those types", () =>
        Effect.gen(function* () {
          const mine = yield* TestData.seedTenant()
          const theirs = yield* TestData.seedTenant("Other")
          const a = yield* newConversation(mine)
          const b = yield* newConversation(theirs)
          yield* receive(mine, a.id)
          yield* receive(theirs, b.id)
          yield* send(theirs, b.id)
          const feed = yield* feedOf(mine.businessId, 2)
          assert.deepStrictEqual(summary(feed), ["conversation.created#1", "message.received#2"])
          const other = yield* feedOf(theirs.businessId, 3)
          assert.strictEqual(other.length, 3)
          for (const { event } of other) assert.strictEqual(event.businessId, theirs.businessId)
          const onlySent = yield* feedOf(theirs.businessId, 1, ["message.sent", "template.status_updated"])
          assert.deepStrictEqual(summary(onlySent), ["message.sent#3"])
        })
      )

      it.effect("the feed pages without gaps or repeats while many writers commit concurrently", () =>
        Effect.gen(function* () {
          const log = yield* EventLog
          const tenant = yield* TestData.seedTenant()
          const shared = yield* newConversation(tenant)
          const others = yield* Effect.forEach([1, 2, 3], () => newConversation(tenant))
          const writers = 8
          const perWriter = 5
          // A reader paging (limit 3) while the writers run; it keeps its cursor as a consumer would.
          const seen: Array<RecordedEvent> = []
          let cursor = Option.none<string>()
          const page = Effect.gen(function* () {
            const rows = yield* log.read(tenant.businessId, { after: cursor, limit: 3 })
            seen.push(...rows)
            const last = rows[rows.length - 1]
            if (last !== undefined) cursor = Option.some(last.cursor)
            return rows.length
          })
          const reader = yield* page.pipe(Effect.repeat(Schedule.spaced("5 millis")), Effect.fork)
          yield* Effect.forEach(
            Array.from({ length: writers }, (_, w) => w),
            (w) =>
              Effect.forEach(
                Array.from({ length: perWriter }, (_, i) => i),
                (i) =>
                  i % 2 === 0
                    ? Effect.asVoid(receive(tenant, shared.id, w * 10 + i))
                    : Effect.asVoid(send(tenant, others[w % 3]!.id, w * 10 + i)),
                { discard: true }
              ),
            { concurrency: "unbounded", discard: true }
          )
          const expected = 4 + writers * perWriter
          yield* feedOf(tenant.businessId, expected)
          yield* Fiber.interrupt(reader)
          // Drain what is left, as a consumer catching up would.
          while ((yield* page) > 0) {}
          const ids = seen.map((row) => row.event.id)
          assert.strictEqual(ids.length, expected)
          assert.strictEqual(new Set(ids).size, expected)
          const all = yield* readAll(tenant.businessId)
          assert.deepStrictEqual(
            ids,
            all.map((row) => row.event.id)
          )
          // Each conversation's sequences are exactly 1..n: no gap, no repeat. (Concurrent writers on one
          // conversation may commit in another order than they took their sequences, so the feed may show a
          // conversation's events out of sequence: the sequence, not the feed, orders them.)
          const sequences = new Map<string, Array<number>>()
          for (const { event } of seen) {
            const list = sequences.get(event.conversationId ?? "") ?? []
            list.push(event.sequence ?? 0)
            sequences.set(event.conversationId ?? "", list)
          }
          assert.strictEqual(sequences.size, 4)
          for (const list of sequences.values()) {
            assert.deepStrictEqual(
              [...list].sort((a, b) => a - b),
              list.map((_, i) => i + 1)
            )
          }
        })
      )

      it.effect("a follower gets every new event once, and resumes from a cursor without gaps or repeats", () =>
        Effect.gen(function* () {
          const log = yield* EventLog
          const tenant = yield* TestData.seedTenant()
          const conversation = yield* newConversation(tenant)
          yield* feedOf(tenant.businessId, 1)
          // From now: the conversation's creation is history, not news.
          const follower = yield* log
            .subscribe(tenant.businessId, { after: Option.none() })
            .pipe(Stream.take(4), Stream.runCollect, Effect.fork)
          // Give the follower time to take its starting point before the news.
          yield* Effect.sleep("200 millis")
          yield* receive(tenant, conversation.id)
          yield* send(tenant, conversation.id)
          yield* receive(tenant, conversation.id, 3)
          yield* send(tenant, conversation.id, 4)
          const followed = Chunk.toReadonlyArray(yield* Fiber.join(follower).pipe(Effect.timeout("30 seconds")))
          assert.deepStrictEqual(summary(followed), [
            "message.received#2",
            "message.sent#3",
            "message.received#4",
            "message.sent#5"
          ])
          // Resuming after the second yields the rest, then what comes next.
          const resumed = yield* log
            .subscribe(tenant.businessId, { after: Option.some(followed[1]!.cursor), types: undefined })
            .pipe(Stream.take(3), Stream.runCollect, Effect.fork)
          yield* receive(tenant, conversation.id, 5)
          const rest = Chunk.toReadonlyArray(yield* Fiber.join(resumed).pipe(Effect.timeout("30 seconds")))
          assert.deepStrictEqual(summary(rest), ["message.received#4", "message.sent#5", "message.received#6"])
        })
      )

      it.effect("a cursor that is not one the feed returned is refused", () =>
        Effect.gen(function* () {
          const log = yield* EventLog
          const tenant = yield* TestData.seedTenant()
          const result = yield* Effect.either(
            log.read(tenant.businessId, { after: Option.some("not-a-cursor"), limit: 10 })
          )
          assert.strictEqual(result._tag === "Left" ? result.left._tag : "Right", "InvalidCursor")
        })
      )

      // Last: purging spans every business of the suite's database.
      it.effect("retention forgets events stored before the cutoff and keeps the rest", () =>
        Effect.gen(function* () {
          const log = yield* EventLog
          const tenant = yield* TestData.seedTenant()
          const conversation = yield* newConversation(tenant)
          yield* receive(tenant, conversation.id)
          const old = yield* feedOf(tenant.businessId, 2)
          const cutoff = DateTime.add(old[old.length - 1]!.recordedAt, { millis: 1 })
          yield* Effect.sleep("50 millis")
          yield* send(tenant, conversation.id)
          yield* feedOf(tenant.businessId, 3)
          let purged = 0
          for (;;) {
            const n = yield* log.purge({ cutoff, limit: 1000 })
            purged += n
            if (n === 0) break
          }
          assert.isAtLeast(purged, 2)
          const kept = yield* readAll(tenant.businessId)
          assert.deepStrictEqual(summary(kept), ["message.sent#3"])
        })
      )
    }
  )
}
