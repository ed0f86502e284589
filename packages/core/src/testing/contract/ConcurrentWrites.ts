/**
 * The storage contract under concurrent writers: many first messages of one new customer make one conversation,
 * concurrent redeliveries of a message record it once, and concurrent statuses end at the highest.
 */
import { assert } from "@effect/vitest"
import { Effect, Option } from "effect"
import { ConversationRepository } from "../../ConversationRepository.js"
import { nextConversationId } from "../../Ids.js"
import type { DeliveryStatus } from "../../Message.js"
import { MessageRepository } from "../../MessageRepository.js"
import * as TestData from "../TestData.js"
import { type FixtureIt, newConversation, pendingSend, receive, status, uniquePhone, wamid } from "./StorageFixtures.js"

/** Registers these cases on the contract's `it` (storage ports, seeder and ids provided). */
export const concurrentWritesContract = (it: FixtureIt): void => {
  it.effect("concurrent first messages from one new customer make one conversation", () =>
    Effect.gen(function* () {
      const repo = yield* ConversationRepository
      const tenant = yield* TestData.seedTenant()
      const customerPhone = uniquePhone()
      const created = yield* Effect.all(
        Array.from({ length: 50 }, () => newConversation(tenant, { customerPhone })),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(new Set(created.map((c) => c.id)).size, 1)
      const all = yield* repo.list(tenant.businessId, { limit: 100 })
      assert.strictEqual(all.length, 1)
    })
  )

  it.effect("concurrent first messages of a new customer, each with its own new conversation, make one", () =>
    Effect.gen(function* () {
      const repo = yield* ConversationRepository
      const tenant = yield* TestData.seedTenant()
      const customerPhone = uniquePhone()
      const results = yield* Effect.all(
        Array.from({ length: 50 }, (_, i) =>
          Effect.gen(function* () {
            const candidate = TestData.conversation({
              id: yield* nextConversationId,
              businessId: tenant.businessId,
              whatsappNumberId: tenant.number.id,
              customerPhone
            })
            return yield* receive(candidate, tenant, wamid(), TestData.at(i))
          })
        ),
        { concurrency: "unbounded" }
      )
      const ids = new Set(results.flatMap((r) => (r._tag === "Recorded" ? [r.conversation.id] : [])))
      assert.strictEqual(ids.size, 1)
      const all = yield* repo.list(tenant.businessId, { limit: 100 })
      assert.strictEqual(all.length, 1)
      assert.strictEqual(all[0]?.unreadCount, 50)
    })
  )

  it.effect("concurrent redeliveries of one inbound message record it once", () =>
    Effect.gen(function* () {
      const repo = yield* ConversationRepository
      const tenant = yield* TestData.seedTenant()
      const c = yield* newConversation(tenant, { customerPhone: uniquePhone() })
      const id = wamid()
      const results = yield* Effect.all(
        Array.from({ length: 50 }, () => receive(c, tenant, id, TestData.at(1))),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(results.filter((r) => r._tag === "Recorded").length, 1)
      assert.strictEqual(Option.getOrThrow(yield* repo.findById(tenant.businessId, c.id)).unreadCount, 1)
    })
  )

  it.effect("concurrent status updates end at the highest rank", () =>
    Effect.gen(function* () {
      const messages = yield* MessageRepository
      const { tenant, message: m } = yield* pendingSend()
      const id = wamid()
      yield* messages.markSent(tenant.businessId, m.id, id)
      const order: ReadonlyArray<Exclude<DeliveryStatus, "pending">> = ["sent", "delivered", "read"]
      yield* Effect.all(
        Array.from({ length: 60 }, (_, i) => messages.applyStatus(tenant.businessId, status(id, order[i % 3]!))),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(Option.getOrThrow(yield* messages.findById(tenant.businessId, m.id)).deliveryStatus, "read")
    })
  )
}
