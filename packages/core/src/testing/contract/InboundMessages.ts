/**
 * The storage contract for customers' messages (`MessageRepository.recordInbound` and `recordInboundBatch`): each
 * recorded once per business however often it is redelivered, the conversation updated with it (unread count,
 * status, name, the window's last inbound time, which never moves backwards), a new customer's conversation stored
 * with the first message, and a batch ending exactly where recording its messages one by one ends.
 */
import { assert } from "@effect/vitest"
import { DateTime, Effect, FastCheck, Option } from "effect"
import type { Conversation } from "../../Conversation.js"
import { ConversationRepository } from "../../ConversationRepository.js"
import { CustomerIdentity } from "../../Customer.js"
import { nextConversationId, nextMessageId } from "../../Ids.js"
import { MessageRepository } from "../../MessageRepository.js"
import type { E164 } from "../../Phone.js"
import * as TestData from "../TestData.js"
import { type FixtureIt, inbound, newConversation, receive, uniquePhone, wamid } from "./StorageFixtures.js"

/** Registers these cases on the contract's `it` (storage ports, seeder and ids provided). */
export const inboundMessagesContract = (it: FixtureIt): void => {
  it.effect("MessageRepository.recordInbound updates the conversation once and dedupes redeliveries", () =>
    Effect.gen(function* () {
      const repo = yield* ConversationRepository
      const tenant = yield* TestData.seedTenant()
      const c = yield* newConversation(tenant, {
        customerPhone: uniquePhone(),
        status: "resolved",
        customerName: null
      })
      const id = wamid()
      const first = yield* receive(c, tenant, id, TestData.at(10), { name: "Ada" })
      assert.strictEqual(first._tag, "Recorded")
      const again = yield* receive(c, tenant, id, TestData.at(10), { name: "Other" })
      assert.strictEqual(again._tag, "Duplicate")
      if (first._tag === "Recorded" && again._tag === "Duplicate") assert.strictEqual(again.messageId, first.message.id)
      const stored = Option.getOrThrow(yield* repo.findById(tenant.businessId, c.id))
      assert.strictEqual(stored.unreadCount, 1)
      assert.strictEqual(stored.status, "open")
      assert.strictEqual(stored.customerName, "Ada")
      assert.isTrue(DateTime.Equivalence(stored.lastInboundAt ?? TestData.epoch, TestData.at(10)))
      assert.isTrue(DateTime.Equivalence(stored.lastActivityAt, TestData.at(10)))
    })
  )

  it.effect("MessageRepository.recordInbound never moves lastInboundAt backwards; system notices don't open it", () =>
    Effect.gen(function* () {
      const repo = yield* ConversationRepository
      const tenant = yield* TestData.seedTenant()
      const c = yield* newConversation(tenant, { customerPhone: uniquePhone() })
      yield* receive(c, tenant, wamid(), TestData.at(30))
      yield* receive(c, tenant, wamid(), TestData.at(20))
      yield* receive(c, tenant, wamid(), TestData.at(40), { opensWindow: false })
      const stored = Option.getOrThrow(yield* repo.findById(tenant.businessId, c.id))
      assert.isTrue(DateTime.Equivalence(stored.lastInboundAt ?? TestData.epoch, TestData.at(30)))
      assert.isTrue(DateTime.Equivalence(stored.lastActivityAt, TestData.at(40)))
      assert.strictEqual(stored.unreadCount, 3)
    })
  )

  it.effect("MessageRepository.recordInbound stores a new customer's conversation with the first message", () =>
    Effect.gen(function* () {
      const repo = yield* ConversationRepository
      const messages = yield* MessageRepository
      const tenant = yield* TestData.seedTenant()
      const candidate = TestData.conversation({
        id: yield* nextConversationId,
        businessId: tenant.businessId,
        whatsappNumberId: tenant.number.id,
        customerPhone: uniquePhone(),
        unreadCount: 0
      })
      assert.isTrue(Option.isNone(yield* repo.findById(tenant.businessId, candidate.id)))
      const recorded = yield* receive(candidate, tenant, wamid(), TestData.at(7))
      assert.strictEqual(recorded._tag, "Recorded")
      if (recorded._tag !== "Recorded") return
      assert.strictEqual(recorded.conversation.id, candidate.id)
      assert.strictEqual(recorded.message.conversationId, candidate.id)
      const stored = Option.getOrThrow(yield* repo.findById(tenant.businessId, candidate.id))
      assert.strictEqual(stored.unreadCount, 1)
      const history = yield* messages.listByConversation(tenant.businessId, candidate.id, { limit: 10 })
      assert.deepStrictEqual(
        history.map((m) => m.id),
        [recorded.message.id]
      )
    })
  )

  it.effect(
    "MessageRepository.recordInbound joins the customer's existing conversation, whatever id it was given",
    () =>
      Effect.gen(function* () {
        const messages = yield* MessageRepository
        const tenant = yield* TestData.seedTenant()
        const customerPhone = uniquePhone()
        const existing = yield* newConversation(tenant, { customerPhone })
        const stranger = TestData.conversation({
          id: yield* nextConversationId,
          businessId: tenant.businessId,
          whatsappNumberId: tenant.number.id,
          customerPhone
        })
        const recorded = yield* receive(stranger, tenant, wamid(), TestData.at(8))
        assert.strictEqual(recorded._tag, "Recorded")
        if (recorded._tag !== "Recorded") return
        assert.strictEqual(recorded.conversation.id, existing.id)
        assert.strictEqual(recorded.message.conversationId, existing.id)
        const stored = Option.getOrThrow(yield* messages.findById(tenant.businessId, recorded.message.id))
        assert.strictEqual(stored.conversationId, existing.id)
      })
  )

  it.effect("MessageRepository.recordInboundBatch records a batch as one by one would, outcomes in order", () =>
    Effect.gen(function* () {
      const repo = yield* ConversationRepository
      const messages = yield* MessageRepository
      const tenant = yield* TestData.seedTenant()
      assert.deepStrictEqual(yield* messages.recordInboundBatch([]), [])
      const known = yield* newConversation(tenant, {
        customerPhone: uniquePhone(),
        customerName: null,
        status: "resolved"
      })
      const already = wamid()
      yield* receive(known, tenant, already, TestData.at(1))
      const candidate = TestData.conversation({
        id: yield* nextConversationId,
        businessId: tenant.businessId,
        whatsappNumberId: tenant.number.id,
        customerPhone: uniquePhone(),
        customerName: null,
        unreadCount: 0
      })
      const item = (
        conversation: Conversation,
        providerMessageId: string,
        minute: number,
        name: string | null,
        opensWindow = true
      ) => inbound(conversation, tenant, providerMessageId, TestData.at(minute), { name, opensWindow })
      const [w1, w2, w3] = [wamid(), wamid(), wamid()]
      const outcomes = yield* messages.recordInboundBatch([
        yield* item(known, w1, 30, "Ada"),
        yield* item(candidate, w2, 5, "Grace"),
        yield* item(known, already, 1, "Stale"),
        yield* item(known, w1, 30, "Repeated"),
        yield* item(known, w3, 40, null, false)
      ])
      assert.deepStrictEqual(
        outcomes.map((o) => o._tag),
        ["Recorded", "Recorded", "Duplicate", "Duplicate", "Recorded"]
      )
      const [first, second, , repeated] = outcomes
      if (first?._tag !== "Recorded" || second?._tag !== "Recorded" || repeated?._tag !== "Duplicate") return
      assert.strictEqual(repeated.messageId, first.message.id)
      const stored = Option.getOrThrow(yield* repo.findById(tenant.businessId, known.id))
      assert.deepStrictEqual([stored.unreadCount, stored.status, stored.customerName], [3, "open", "Ada"])
      assert.isTrue(DateTime.Equivalence(stored.lastInboundAt ?? TestData.epoch, TestData.at(30)))
      assert.isTrue(DateTime.Equivalence(stored.lastActivityAt, TestData.at(40)))
      // A new customer's conversation is stored with its first message, in the same step.
      assert.strictEqual(second.conversation.id, candidate.id)
      const created = Option.getOrThrow(yield* repo.findById(tenant.businessId, candidate.id))
      assert.deepStrictEqual([created.unreadCount, created.customerName], [1, "Grace"])
      const history = yield* messages.listByConversation(tenant.businessId, candidate.id, { limit: 10 })
      assert.deepStrictEqual(
        history.map((m) => m.id),
        [second.message.id]
      )
    })
  )

  let batchRun = 0
  it.effect.prop(
    "MessageRepository.recordInboundBatch ends exactly where recording the same messages one by one ends",
    {
      items: FastCheck.array(
        FastCheck.record({
          customer: FastCheck.integer({ min: 0, max: 3 }),
          message: FastCheck.integer({ min: 0, max: 9 }),
          minute: FastCheck.integer({ min: 0, max: 300 }),
          name: FastCheck.option(FastCheck.constantFrom("Ada", "Grace", "Zoë"), { nil: null }),
          opensWindow: FastCheck.boolean()
        }),
        { maxLength: 25 }
      )
    },
    ({ items }) =>
      Effect.gen(function* () {
        const repo = yield* ConversationRepository
        const messages = yield* MessageRepository
        const run = ++batchRun
        const phones = [uniquePhone(), uniquePhone(), uniquePhone(), uniquePhone()]
        const recordsFor = (tenant: TestData.Tenant) =>
          Effect.gen(function* () {
            const candidates = new Map<number, Conversation>()
            const records = []
            for (const item of items) {
              const conversation =
                candidates.get(item.customer) ??
                TestData.conversation({
                  id: yield* nextConversationId,
                  businessId: tenant.businessId,
                  whatsappNumberId: tenant.number.id,
                  customerPhone: phones[item.customer] ?? null,
                  customerName: null,
                  unreadCount: 0,
                  lastActivityAt: TestData.at(item.minute)
                })
              candidates.set(item.customer, conversation)
              records.push({
                conversation,
                message: TestData.message({
                  id: yield* nextMessageId,
                  businessId: tenant.businessId,
                  conversationId: conversation.id,
                  providerMessageId: `wamid.BATCH${run}.${item.message}`,
                  createdAt: TestData.at(item.minute)
                }),
                customerName: Option.fromNullable(item.name),
                opensWindow: item.opensWindow
              })
            }
            return records
          })
        const one = yield* TestData.seedTenant()
        const batch = yield* TestData.seedTenant()
        const oneByOne = yield* Effect.forEach(yield* recordsFor(one), (r) => messages.recordInbound(r))
        const atOnce = yield* messages.recordInboundBatch(yield* recordsFor(batch))
        assert.deepStrictEqual(
          atOnce.map((o) => o._tag),
          oneByOne.map((o) => o._tag)
        )
        const stateOf = (tenant: TestData.Tenant, phone: E164) =>
          Effect.gen(function* () {
            const found = yield* repo.findByCustomer(
              tenant.businessId,
              tenant.number.id,
              CustomerIdentity.byPhone(phone)
            )
            if (Option.isNone(found)) return null
            const c = found.value
            const history = yield* messages.listByConversation(tenant.businessId, c.id, { limit: 100 })
            return {
              unread: c.unreadCount,
              name: c.customerName,
              status: c.status,
              lastInboundAt: c.lastInboundAt === null ? null : DateTime.formatIso(c.lastInboundAt),
              lastActivityAt: DateTime.formatIso(c.lastActivityAt),
              // As a set: messages of the same minute are ordered by their random ids, which differ per tenant.
              history: history.map((m) => m.providerMessageId ?? "").sort()
            }
          })
        for (const phone of phones) {
          assert.deepStrictEqual(yield* stateOf(batch, phone), yield* stateOf(one, phone))
        }
      }),
    { timeout: 120_000, fastCheck: { numRuns: 20 } }
  )

  it.effect("MessageRepository.recordInbound dedupes per business only", () =>
    Effect.gen(function* () {
      const a = yield* TestData.seedTenant("A")
      const b = yield* TestData.seedTenant("B")
      const ca = yield* newConversation(a, { customerPhone: uniquePhone() })
      const cb = yield* newConversation(b, { customerPhone: uniquePhone() })
      const id = wamid()
      assert.strictEqual((yield* receive(ca, a, id, TestData.at(1)))._tag, "Recorded")
      assert.strictEqual((yield* receive(cb, b, id, TestData.at(1)))._tag, "Recorded")
    })
  )
}
