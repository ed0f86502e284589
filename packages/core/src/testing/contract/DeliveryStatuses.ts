/**
 * The storage contract for the delivery statuses of outbound messages, one at a time (`MessageRepository.markSent`,
 * `applyStatus`, `markFailed`): statuses only move forward and `failed` keeps its reason, a status for an unknown
 * provider id is parked until the send is marked sent, a status may find its message by our own id, and no status
 * ever reaches another business's message. Batches have their own suite (StatusBatches.ts).
 */
import { assert } from "@effect/vitest"
import { Effect, Option } from "effect"
import { DeliveryFailure } from "../../Message.js"
import { MessageRepository } from "../../MessageRepository.js"
import * as TestData from "../TestData.js"
import {
  type FixtureIt,
  newConversation,
  pendingSend,
  sendPending,
  status,
  uniquePhone,
  wamid
} from "./StorageFixtures.js"

/** Registers these cases on the contract's `it` (storage ports, seeder and ids provided). */
export const deliveryStatusesContract = (it: FixtureIt): void => {
  it.effect("MessageRepository statuses only move forward; failed is terminal and keeps its reason", () =>
    Effect.gen(function* () {
      const messages = yield* MessageRepository
      const { tenant, message: m } = yield* pendingSend()
      const id = wamid()
      const sent = Option.getOrThrow(yield* messages.markSent(tenant.businessId, m.id, id))
      assert.strictEqual(sent.deliveryStatus, "sent")
      assert.strictEqual(sent.providerMessageId, id)
      assert.strictEqual((yield* messages.applyStatus(tenant.businessId, status(id, "read")))._tag, "Applied")
      assert.strictEqual((yield* messages.applyStatus(tenant.businessId, status(id, "delivered")))._tag, "Unchanged")
      assert.strictEqual((yield* messages.applyStatus(tenant.businessId, status(id, "read")))._tag, "Unchanged")
      const failure = new DeliveryFailure({ code: 131047, title: "Re-engagement message" })
      const failed = yield* messages.applyStatus(
        tenant.businessId,
        status(id, "failed", { failure: Option.some(failure) })
      )
      assert.strictEqual(failed._tag, "Applied")
      assert.strictEqual((yield* messages.applyStatus(tenant.businessId, status(id, "sent")))._tag, "Unchanged")
      const stored = Option.getOrThrow(yield* messages.findById(tenant.businessId, m.id))
      assert.strictEqual(stored.deliveryStatus, "failed")
      assert.deepStrictEqual(stored.failure, failure)
    })
  )

  it.effect("MessageRepository parks a status for an unknown provider id and applies it on markSent", () =>
    Effect.gen(function* () {
      const messages = yield* MessageRepository
      const { tenant, message: m } = yield* pendingSend()
      const id = wamid()
      assert.strictEqual((yield* messages.applyStatus(tenant.businessId, status(id, "delivered")))._tag, "Parked")
      const sent = Option.getOrThrow(yield* messages.markSent(tenant.businessId, m.id, id))
      assert.strictEqual(sent.deliveryStatus, "delivered")
      assert.strictEqual(
        Option.getOrThrow(yield* messages.findById(tenant.businessId, m.id)).deliveryStatus,
        "delivered"
      )
    })
  )

  it.effect("MessageRepository matches a status by our message id when the provider id was never stored", () =>
    Effect.gen(function* () {
      const messages = yield* MessageRepository
      const { tenant, message: m } = yield* pendingSend()
      const id = wamid()
      const applied = yield* messages.applyStatus(
        tenant.businessId,
        status(id, "sent", { messageId: Option.some(m.id) })
      )
      assert.strictEqual(applied._tag, "Applied")
      const stored = Option.getOrThrow(yield* messages.findById(tenant.businessId, m.id))
      assert.strictEqual(stored.providerMessageId, id)
      assert.strictEqual(stored.deliveryStatus, "sent")
      assert.strictEqual((yield* messages.applyStatus(tenant.businessId, status(id, "delivered")))._tag, "Applied")
    })
  )

  it.effect("MessageRepository never applies a status to another business's message", () =>
    Effect.gen(function* () {
      const messages = yield* MessageRepository
      const a = yield* TestData.seedTenant("A")
      const b = yield* TestData.seedTenant("B")
      const c = yield* newConversation(a, { customerPhone: uniquePhone() })
      const m = yield* sendPending(c.id, a, TestData.at(1))
      const id = wamid()
      yield* messages.markSent(a.businessId, m.id, id)
      assert.strictEqual(
        (yield* messages.applyStatus(b.businessId, status(id, "read", { messageId: Option.some(m.id) })))._tag,
        "Parked"
      )
      assert.strictEqual(Option.getOrThrow(yield* messages.findById(a.businessId, m.id)).deliveryStatus, "sent")
      assert.isTrue(Option.isNone(yield* messages.findById(b.businessId, m.id)))
      assert.isTrue(Option.isNone(yield* messages.markSent(b.businessId, m.id, wamid())))
      assert.isTrue(
        Option.isNone(yield* messages.markFailed(b.businessId, m.id, new DeliveryFailure({ code: 1, title: "x" })))
      )
      assert.deepStrictEqual(yield* messages.listByConversation(b.businessId, c.id, { limit: 10 }), [])
    })
  )

  it.effect("MessageRepository.markFailed records why", () =>
    Effect.gen(function* () {
      const messages = yield* MessageRepository
      const { tenant, message: m } = yield* pendingSend()
      const failure = new DeliveryFailure({ code: 131026, title: "Message undeliverable" })
      const failed = Option.getOrThrow(yield* messages.markFailed(tenant.businessId, m.id, failure))
      assert.strictEqual(failed.deliveryStatus, "failed")
      assert.deepStrictEqual(failed.failure, failure)
    })
  )
}
