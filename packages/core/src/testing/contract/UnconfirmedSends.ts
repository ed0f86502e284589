/**
 * The storage contract for sends whose outcome is unknown: the sweeper's `expireUnconfirmed` (which messages it
 * fails, the boundary, the batch limit, concurrent sweepers) and how it meets the provider's statuses.
 *
 * `expireUnconfirmed` spans all businesses, and the suite may share its database with the rest of the contract:
 * every test works far before `TestData.epoch` (where the rest of the contract lives), each later test in an older
 * window than the one before, and judges only its own messages.
 */
import { assert, type Vitest } from "@effect/vitest"
import { DateTime, Effect, Option } from "effect"
import { ConversationRepository } from "../../ConversationRepository.js"
import * as Idempotency from "../../Idempotency.js"
import { type ConversationId, type Ids, type MessageId, nextConversationId, nextMessageId } from "../../Ids.js"
import { DeliveryFailure, type DeliveryStatus, type Message } from "../../Message.js"
import { MessageRepository } from "../../MessageRepository.js"
import type { E164 } from "../../Phone.js"
import type { StorageSeeder } from "../StorageSeeder.js"
import * as TestData from "../TestData.js"
import { sendPending } from "./StorageFixtures.js"

type It = Vitest.MethodsNonLive<UnconfirmedSendsPorts, true>

let phones = 0
const phone = (): E164 => TestData.phone(`4478${String(++phones).padStart(9, "0")}`)
let wamids = 0
const wamid = () => `wamid.UNCONFIRMED${++wamids}`

/** The start of test `n`'s window: `n` × 30 days before the epoch. */
const windowOf = (n: number) => DateTime.subtract(TestData.epoch, { days: 30 * n })

const conversationOf = (tenant: TestData.Tenant) =>
  Effect.gen(function* () {
    const repo = yield* ConversationRepository
    const id = yield* nextConversationId
    return yield* repo.findOrCreate(
      TestData.conversation({
        id,
        businessId: tenant.businessId,
        whatsappNumberId: tenant.number.id,
        customerPhone: phone()
      })
    )
  })

const pendingAt = (tenant: TestData.Tenant, conversationId: ConversationId, createdAt: DateTime.Utc) =>
  sendPending(conversationId, tenant, createdAt, { text: "Did this go out?" })

const statusOf = (message: Message) =>
  Effect.flatMap(MessageRepository, (messages) =>
    Effect.map(messages.findById(message.businessId, message.id), (found) => Option.getOrThrow(found))
  )

const expire = (cutoff: DateTime.Utc, limit = 1000) =>
  Effect.flatMap(MessageRepository, (messages) =>
    messages.expireUnconfirmed({ cutoff, failure: Idempotency.unconfirmedExpiry, limit })
  )

const idsOf = (messages: ReadonlyArray<Message>, mine: ReadonlyArray<Message>): ReadonlyArray<MessageId> => {
  const wanted = new Set(mine.map((m) => m.id))
  return messages
    .filter((m) => wanted.has(m.id))
    .map((m) => m.id)
    .sort()
}

/** Registers these cases on the contract's `it` (storage ports, seeder and ids provided). */
export const unconfirmedSendsContract = (it: It): void => {
  it.effect("MessageRepository.expireUnconfirmed fails pending outbound messages created at or before the cutoff", () =>
    Effect.gen(function* () {
      const messages = yield* MessageRepository
      const start = windowOf(1)
      const a = yield* TestData.seedTenant("A")
      const b = yield* TestData.seedTenant("B")
      const ca = yield* conversationOf(a)
      const cb = yield* conversationOf(b)
      const cutoff = DateTime.add(start, { minutes: 10 })
      const atCutoff = yield* pendingAt(a, ca.id, cutoff)
      const before = yield* pendingAt(b, cb.id, DateTime.subtract(cutoff, { minutes: 5 }))
      const justAfter = yield* pendingAt(a, ca.id, DateTime.add(cutoff, { millis: 1 }))
      const settled = yield* pendingAt(a, ca.id, DateTime.subtract(cutoff, { minutes: 1 }))
      yield* messages.markSent(a.businessId, settled.id, wamid())
      const refused = yield* pendingAt(a, ca.id, DateTime.subtract(cutoff, { minutes: 2 }))
      const providerFailure = new DeliveryFailure({ code: 131026, title: "Message undeliverable" })
      yield* messages.markFailed(a.businessId, refused.id, providerFailure)
      const inbound = yield* messages.recordInbound({
        conversation: ca,
        message: TestData.message({
          id: yield* nextMessageId,
          businessId: a.businessId,
          conversationId: ca.id,
          providerMessageId: wamid(),
          createdAt: DateTime.subtract(cutoff, { minutes: 3 })
        }),
        customerName: Option.none(),
        opensWindow: true
      })
      assert.strictEqual(inbound._tag, "Recorded")

      const expired = yield* expire(cutoff)
      const mine = [atCutoff, before, justAfter, settled, refused]
      assert.deepStrictEqual(idsOf(expired, mine), [atCutoff.id, before.id].sort())
      for (const m of expired.filter((e) => e.id === atCutoff.id || e.id === before.id)) {
        assert.strictEqual(m.deliveryStatus, "failed")
        assert.deepStrictEqual(m.failure, Idempotency.unconfirmedExpiry)
      }
      const stored = yield* statusOf(before)
      assert.strictEqual(stored.deliveryStatus, "failed")
      assert.deepStrictEqual(stored.failure, Idempotency.unconfirmedExpiry)
      assert.strictEqual(stored.businessId, b.businessId)
      assert.strictEqual((yield* statusOf(justAfter)).deliveryStatus, "pending")
      assert.strictEqual((yield* statusOf(settled)).deliveryStatus, "sent")
      assert.deepStrictEqual((yield* statusOf(refused)).failure, providerFailure)
      // Already failed: a second sweep over the same range fails nothing of ours again.
      assert.deepStrictEqual(idsOf(yield* expire(cutoff), mine), [])
    })
  )

  it.effect("MessageRepository.expireUnconfirmed takes at most `limit`, oldest first", () =>
    Effect.gen(function* () {
      const start = windowOf(2)
      const tenant = yield* TestData.seedTenant()
      const c = yield* conversationOf(tenant)
      const mine: Array<Message> = []
      for (let i = 0; i < 7; i++) mine.push(yield* pendingAt(tenant, c.id, DateTime.add(start, { seconds: i })))
      const cutoff = DateTime.add(start, { minutes: 1 })
      // Nothing else is pending this far back (later tests use older windows, and run later): the oldest three.
      const first = yield* expire(cutoff, 3)
      assert.deepStrictEqual(
        first.map((m) => m.id),
        mine.slice(0, 3).map((m) => m.id)
      )
      let rounds = 0
      while ((yield* Effect.forEach(mine, statusOf)).some((m) => m.deliveryStatus === "pending")) {
        assert.isAtMost((yield* expire(cutoff, 3)).length, 3)
        assert.isBelow(++rounds, 20)
      }
      assert.deepStrictEqual(idsOf(yield* expire(cutoff, 0), mine), [])
    })
  )

  it.effect("MessageRepository.expireUnconfirmed: concurrent sweepers fail each message exactly once", () =>
    Effect.gen(function* () {
      const start = windowOf(3)
      const tenant = yield* TestData.seedTenant()
      const c = yield* conversationOf(tenant)
      const mine = yield* Effect.forEach(
        Array.from({ length: 30 }, (_, i) => i),
        (i) => pendingAt(tenant, c.id, DateTime.add(start, { millis: i }))
      )
      const cutoff = DateTime.add(start, { minutes: 1 })
      const results = yield* Effect.all(
        Array.from({ length: 6 }, () => expire(cutoff, 7)),
        { concurrency: "unbounded" }
      )
      let rest = yield* expire(cutoff)
      const all = [...results.flat(), ...rest]
      const ids = all.filter((m) => mine.some((x) => x.id === m.id)).map((m) => m.id)
      assert.strictEqual(new Set(ids).size, ids.length, "a message was failed twice")
      assert.strictEqual(ids.length, mine.length)
      rest = yield* expire(cutoff)
      assert.deepStrictEqual(idsOf(rest, mine), [])
    })
  )

  it.effect("an expired send stays failed when a late status arrives; the provider id is still recorded", () =>
    Effect.gen(function* () {
      const messages = yield* MessageRepository
      const start = windowOf(4)
      const tenant = yield* TestData.seedTenant()
      const c = yield* conversationOf(tenant)
      const m = yield* pendingAt(tenant, c.id, start)
      yield* expire(DateTime.add(start, { minutes: 15 }))
      const late = wamid()
      const statuses: ReadonlyArray<Exclude<DeliveryStatus, "pending">> = ["sent", "delivered", "read"]
      for (const status of statuses) {
        const applied = yield* messages.applyStatus(tenant.businessId, {
          providerMessageId: late,
          status,
          timestamp: DateTime.add(start, { minutes: 20 }),
          failure: Option.none(),
          messageId: Option.some(m.id)
        })
        assert.strictEqual(applied._tag, "Unchanged")
      }
      const stored = yield* statusOf(m)
      assert.strictEqual(stored.deliveryStatus, "failed")
      assert.deepStrictEqual(stored.failure, Idempotency.unconfirmedExpiry)
      assert.strictEqual(stored.providerMessageId, late)
    })
  )

  it.effect("a status that settles a pending send first is never overwritten by the sweeper", () =>
    Effect.gen(function* () {
      const messages = yield* MessageRepository
      const start = windowOf(5)
      const tenant = yield* TestData.seedTenant()
      const c = yield* conversationOf(tenant)
      const m = yield* pendingAt(tenant, c.id, start)
      const applied = yield* messages.applyStatus(tenant.businessId, {
        providerMessageId: wamid(),
        status: "delivered",
        timestamp: DateTime.add(start, { seconds: 3 }),
        failure: Option.none(),
        messageId: Option.some(m.id)
      })
      assert.strictEqual(applied._tag, "Applied")
      assert.deepStrictEqual(idsOf(yield* expire(DateTime.add(start, { hours: 1 })), [m]), [])
      assert.strictEqual((yield* statusOf(m)).deliveryStatus, "delivered")
    })
  )

  it.effect("statuses parked under an unrecorded provider id apply once a status with our id records it", () =>
    Effect.gen(function* () {
      const messages = yield* MessageRepository
      const start = windowOf(6)
      const tenant = yield* TestData.seedTenant()
      const c = yield* conversationOf(tenant)
      const m = yield* pendingAt(tenant, c.id, start)
      const id = wamid()
      const update = (status: Exclude<DeliveryStatus, "pending">, ours: boolean) => ({
        providerMessageId: id,
        status,
        timestamp: DateTime.add(start, { seconds: 2 }),
        failure: Option.none(),
        messageId: ours ? Option.some(m.id) : Option.none()
      })
      // The answer to the send was lost, so only the webhooks know the provider id; `read` came first.
      assert.strictEqual((yield* messages.applyStatus(tenant.businessId, update("read", false)))._tag, "Parked")
      assert.strictEqual((yield* messages.applyStatus(tenant.businessId, update("sent", true)))._tag, "Applied")
      const stored = yield* statusOf(m)
      assert.strictEqual(stored.deliveryStatus, "read")
      assert.strictEqual(stored.providerMessageId, id)
    })
  )
}

/** What the cases need from the environment (the contract provides it). */
export type UnconfirmedSendsPorts = MessageRepository | ConversationRepository | StorageSeeder | Ids
