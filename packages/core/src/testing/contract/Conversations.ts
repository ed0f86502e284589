/**
 * The storage contract for conversations (`ConversationRepository`): one per customer (by phone, or by
 * business-scoped user id when there is no phone), every field kept, listing in keyset pages with filters and
 * search, patches, marking read, and never a look at another business's conversations.
 */
import { assert } from "@effect/vitest"
import { DateTime, Effect, Option } from "effect"
import { ConversationPatch } from "../../Conversation.js"
import { ConversationRepository } from "../../ConversationRepository.js"
import { CustomerIdentity } from "../../Customer.js"
import { type ConversationId, nextUserId } from "../../Ids.js"
import { MessageRepository } from "../../MessageRepository.js"
import { StorageSeeder } from "../StorageSeeder.js"
import * as TestData from "../TestData.js"
import {
  type FixtureIt,
  newConversation,
  receive,
  sendPending,
  uniquePhone,
  uniqueUserId,
  wamid
} from "./StorageFixtures.js"

/** Registers these cases on the contract's `it` (storage ports, seeder and ids provided). */
export const conversationsContract = (it: FixtureIt): void => {
  it.effect("ConversationRepository.findOrCreate returns the existing conversation of a customer", () =>
    Effect.gen(function* () {
      const repo = yield* ConversationRepository
      const tenant = yield* TestData.seedTenant()
      const customerPhone = uniquePhone()
      const first = yield* newConversation(tenant, { customerPhone, customerName: "First" })
      const second = yield* newConversation(tenant, { customerPhone, customerName: "Second" })
      assert.strictEqual(second.id, first.id)
      assert.strictEqual(second.customerName, "First")
      const found = yield* repo.findByCustomer(
        tenant.businessId,
        tenant.number.id,
        CustomerIdentity.byPhone(customerPhone)
      )
      assert.strictEqual(Option.getOrThrow(found).id, first.id)
    })
  )

  it.effect("ConversationRepository finds a phone-less customer by business-scoped user id", () =>
    Effect.gen(function* () {
      const repo = yield* ConversationRepository
      const tenant = yield* TestData.seedTenant()
      const userId = uniqueUserId()
      const created = yield* newConversation(tenant, { customerPhone: null, customerUserId: userId })
      const again = yield* newConversation(tenant, { customerPhone: null, customerUserId: userId })
      assert.strictEqual(again.id, created.id)
      const found = yield* repo.findByCustomer(
        tenant.businessId,
        tenant.number.id,
        new CustomerIdentity({ phone: Option.none(), userId: Option.some(userId) })
      )
      assert.strictEqual(Option.getOrThrow(found).id, created.id)
      assert.strictEqual(Option.getOrThrow(found).customerPhone, null)
    })
  )

  it.effect("ConversationRepository round-trips every field", () =>
    Effect.gen(function* () {
      const repo = yield* ConversationRepository
      const tenant = yield* TestData.seedTenant()
      const created = yield* newConversation(tenant, {
        customerPhone: uniquePhone(),
        status: "pending_customer",
        mode: "ai",
        lastInboundAt: TestData.at(1),
        lastOutboundAt: TestData.at(2),
        lastActivityAt: TestData.at(2),
        createdAt: TestData.at(0)
      })
      const found = Option.getOrThrow(yield* repo.findById(tenant.businessId, created.id))
      assert.deepStrictEqual(found, created)
    })
  )

  it.effect("ConversationRepository never shows or changes another business's conversation", () =>
    Effect.gen(function* () {
      const repo = yield* ConversationRepository
      const a = yield* TestData.seedTenant("A")
      const b = yield* TestData.seedTenant("B")
      const customerPhone = uniquePhone()
      const ofA = yield* newConversation(a, { customerPhone })
      assert.isTrue(Option.isNone(yield* repo.findById(b.businessId, ofA.id)))
      assert.isTrue(
        Option.isNone(yield* repo.findByCustomer(b.businessId, a.number.id, CustomerIdentity.byPhone(customerPhone)))
      )
      assert.isTrue(
        Option.isNone(yield* repo.update(b.businessId, ofA.id, new ConversationPatch({ status: "resolved" })))
      )
      assert.isTrue(Option.isNone(yield* repo.markRead(b.businessId, ofA.id)))
      assert.deepStrictEqual(yield* repo.list(b.businessId, { limit: 50 }), [])
      assert.strictEqual(Option.getOrThrow(yield* repo.findById(a.businessId, ofA.id)).status, "open")
    })
  )

  it.effect("ConversationRepository.list orders by last activity then id, and pages by keyset", () =>
    Effect.gen(function* () {
      const repo = yield* ConversationRepository
      const tenant = yield* TestData.seedTenant()
      const created = []
      for (let i = 0; i < 7; i++) {
        // Two share each activity time, so the id breaks ties.
        created.push(
          yield* newConversation(tenant, {
            customerPhone: uniquePhone(),
            lastActivityAt: TestData.at(Math.floor(i / 2))
          })
        )
      }
      const expected = [...created]
        .sort((x, y) => {
          const dt = DateTime.toEpochMillis(y.lastActivityAt) - DateTime.toEpochMillis(x.lastActivityAt)
          return dt !== 0 ? dt : x.id < y.id ? 1 : -1
        })
        .map((c) => c.id)
      const all = yield* repo.list(tenant.businessId, { limit: 50 })
      assert.deepStrictEqual(
        all.map((c) => c.id),
        expected
      )
      const pages: Array<ConversationId> = []
      let after: { at: DateTime.Utc; id: string } | undefined
      for (;;) {
        const page = yield* repo.list(tenant.businessId, { limit: 3, ...(after === undefined ? {} : { after }) })
        pages.push(...page.map((c) => c.id))
        const last = page[page.length - 1]
        if (page.length < 3 || last === undefined) break
        after = { at: last.lastActivityAt, id: last.id }
      }
      assert.deepStrictEqual(pages, expected)
    })
  )

  it.effect("ConversationRepository.list filters by status, mode and assignment", () =>
    Effect.gen(function* () {
      const repo = yield* ConversationRepository
      const seeder = yield* TestData.seedTenant()
      const other = yield* nextUserId
      yield* (yield* StorageSeeder).user({ id: other, businessId: seeder.businessId, name: "Other agent" })
      const open = yield* newConversation(seeder, { customerPhone: uniquePhone(), status: "open", mode: "ai" })
      const mine = yield* newConversation(seeder, {
        customerPhone: uniquePhone(),
        status: "pending_customer",
        mode: "human",
        assignedUserId: seeder.userId
      })
      const theirs = yield* newConversation(seeder, {
        customerPhone: uniquePhone(),
        status: "resolved",
        mode: "human",
        assignedUserId: other
      })
      const ids = (rows: ReadonlyArray<{ id: ConversationId }>) => rows.map((r) => r.id).sort()
      const list = (query: Parameters<typeof repo.list>[1]) => repo.list(seeder.businessId, query)
      assert.deepStrictEqual(ids(yield* list({ limit: 50, status: "open" })), [open.id])
      assert.deepStrictEqual(ids(yield* list({ limit: 50, status: "resolved" })), [theirs.id])
      assert.deepStrictEqual(ids(yield* list({ limit: 50, mode: "human" })), ids([mine, theirs]))
      assert.deepStrictEqual(ids(yield* list({ limit: 50, assigned: { _tag: "User", userId: seeder.userId } })), [
        mine.id
      ])
      assert.deepStrictEqual(ids(yield* list({ limit: 50, assigned: { _tag: "Unassigned" } })), [open.id])
      assert.deepStrictEqual(
        ids(
          yield* list({
            limit: 50,
            mode: "human",
            status: "pending_customer",
            assigned: { _tag: "User", userId: seeder.userId }
          })
        ),
        [mine.id]
      )
    })
  )

  it.effect("ConversationRepository.list searches names case-insensitively and phones by digits", () =>
    Effect.gen(function* () {
      const repo = yield* ConversationRepository
      const tenant = yield* TestData.seedTenant()
      const ada = yield* newConversation(tenant, {
        customerPhone: TestData.phone("2348012345678"),
        customerName: "Ada Lovelace"
      })
      const grace = yield* newConversation(tenant, {
        customerPhone: TestData.phone("15550001111"),
        customerName: "Grace 100% Hopper_"
      })
      const nameless = yield* newConversation(tenant, {
        customerPhone: TestData.phone("447700900123"),
        customerName: null
      })
      const search = (term: string) =>
        Effect.map(repo.list(tenant.businessId, { limit: 50, search: term }), (rows) => rows.map((r) => r.id).sort())
      assert.deepStrictEqual(yield* search("ada"), [ada.id])
      assert.deepStrictEqual(yield* search("LOVE"), [ada.id])
      assert.deepStrictEqual(yield* search("+234 801"), [ada.id])
      assert.deepStrictEqual(yield* search("(555) 000"), [grace.id])
      assert.deepStrictEqual(yield* search("0090"), [nameless.id])
      assert.deepStrictEqual(yield* search("100%"), [grace.id])
      assert.deepStrictEqual(yield* search("%"), [grace.id])
      assert.deepStrictEqual(yield* search("_"), [grace.id])
      assert.deepStrictEqual(yield* search("Ada 234"), [])
      assert.deepStrictEqual(yield* search("zzz"), [])
    })
  )

  it.effect("ConversationRepository.update applies a patch; null unassigns", () =>
    Effect.gen(function* () {
      const repo = yield* ConversationRepository
      const tenant = yield* TestData.seedTenant()
      const c = yield* newConversation(tenant, { customerPhone: uniquePhone() })
      const assigned = yield* repo.update(
        tenant.businessId,
        c.id,
        new ConversationPatch({ status: "resolved", mode: "ai", assignedUserId: tenant.userId })
      )
      assert.strictEqual(Option.getOrThrow(assigned).status, "resolved")
      assert.strictEqual(Option.getOrThrow(assigned).mode, "ai")
      assert.strictEqual(Option.getOrThrow(assigned).assignedUserId, tenant.userId)
      const kept = yield* repo.update(tenant.businessId, c.id, new ConversationPatch({}))
      assert.strictEqual(Option.getOrThrow(kept).assignedUserId, tenant.userId)
      const unassigned = yield* repo.update(tenant.businessId, c.id, new ConversationPatch({ assignedUserId: null }))
      assert.strictEqual(Option.getOrThrow(unassigned).assignedUserId, null)
      assert.strictEqual(Option.getOrThrow(unassigned).status, "resolved")
    })
  )

  it.effect("ConversationRepository.markRead zeroes unread and marks inbound messages read", () =>
    Effect.gen(function* () {
      const repo = yield* ConversationRepository
      const messages = yield* MessageRepository
      const tenant = yield* TestData.seedTenant()
      const c = yield* newConversation(tenant, { customerPhone: uniquePhone() })
      yield* receive(c, tenant, wamid(), TestData.at(1))
      yield* receive(c, tenant, wamid(), TestData.at(2))
      const out = yield* sendPending(c.id, tenant, TestData.at(3))
      const read = Option.getOrThrow(yield* repo.markRead(tenant.businessId, c.id))
      assert.strictEqual(read.unreadCount, 0)
      const all = yield* messages.listByConversation(tenant.businessId, c.id, { limit: 10 })
      assert.deepStrictEqual(
        all.map((m) => [m.direction, m.deliveryStatus]),
        [
          ["outbound", "pending"],
          ["inbound", "read"],
          ["inbound", "read"]
        ]
      )
      assert.strictEqual(
        Option.getOrThrow(yield* messages.findById(tenant.businessId, out.id)).deliveryStatus,
        "pending"
      )
    })
  )
}
