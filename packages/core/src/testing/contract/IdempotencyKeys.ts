/**
 * The storage contract for idempotency keys (`IdempotencyStore`): a key is claimed once, its outcome replayed
 * exactly and a different request under it refused; keys are per business, released or expired keys are free again,
 * a dead claim is taken over after its lease unless it already recorded a message, and of many concurrent claims
 * exactly one wins.
 */
import { assert, type Vitest } from "@effect/vitest"
import { DateTime, Effect, Option } from "effect"
import type { ConversationRepository } from "../../ConversationRepository.js"
import * as Idempotency from "../../Idempotency.js"
import { type Ids, nextMessageId } from "../../Ids.js"
import { MessageRepository } from "../../MessageRepository.js"
import { ProviderWindowClosed } from "../../MessagingGateway.js"
import type { StorageSeeder } from "../StorageSeeder.js"
import * as TestData from "../TestData.js"
import { newConversation, sendPending, times, uniqueKey, uniquePhone, wamid } from "./StorageFixtures.js"

export type IdempotencyKeysPorts =
  | Idempotency.IdempotencyStore
  | ConversationRepository
  | MessageRepository
  | StorageSeeder
  | Ids

type It = Vitest.MethodsNonLive<IdempotencyKeysPorts, true>

/** Registers these cases on the contract's `it` (storage ports, seeder and ids provided). */
export const idempotencyKeysContract = (it: It): void => {
  it.effect("IdempotencyStore claims once, replays the outcome, and refuses a different request", () =>
    Effect.gen(function* () {
      const store = yield* Idempotency.IdempotencyStore
      const messages = yield* MessageRepository
      const tenant = yield* TestData.seedTenant()
      const c = yield* newConversation(tenant, { customerPhone: uniquePhone() })
      const now = TestData.at(0)
      const key = uniqueKey()
      assert.strictEqual((yield* store.claim(tenant.businessId, key, "fp-1", times(now)))._tag, "Claimed")
      assert.strictEqual((yield* store.claim(tenant.businessId, key, "fp-1", times(now)))._tag, "InFlight")
      assert.strictEqual((yield* store.claim(tenant.businessId, key, "fp-2", times(now)))._tag, "Mismatch")
      const m = yield* sendPending(c.id, tenant, TestData.at(1), { key })
      const sent = Option.getOrThrow(yield* messages.markSent(tenant.businessId, m.id, wamid()))
      yield* store.complete(tenant.businessId, key, new Idempotency.Sent({ message: sent }))
      const replay = yield* store.claim(tenant.businessId, key, "fp-1", times(TestData.at(5)))
      assert.strictEqual(replay._tag, "Completed")
      if (replay._tag === "Completed") assert.deepStrictEqual(replay.outcome, new Idempotency.Sent({ message: sent }))
      assert.strictEqual((yield* store.claim(tenant.businessId, key, "fp-2", times(TestData.at(5))))._tag, "Mismatch")
    })
  )

  it.effect("MessageRepository.markSent with the key completes it with Sent and the message as marked", () =>
    Effect.gen(function* () {
      const store = yield* Idempotency.IdempotencyStore
      const messages = yield* MessageRepository
      const tenant = yield* TestData.seedTenant()
      const c = yield* newConversation(tenant, { customerPhone: uniquePhone() })
      const key = uniqueKey()
      const other = uniqueKey()
      yield* store.claim(tenant.businessId, key, "fp", times(TestData.at(0)))
      yield* store.claim(tenant.businessId, other, "fp", times(TestData.at(0)))
      const m = yield* sendPending(c.id, tenant, TestData.at(1), { key })
      // A status that arrived before the send was marked: the marked message already carries it.
      const providerId = wamid()
      yield* messages.applyStatus(tenant.businessId, {
        providerMessageId: providerId,
        status: "delivered",
        timestamp: TestData.at(2),
        failure: Option.none(),
        messageId: Option.none()
      })
      const sent = Option.getOrThrow(yield* messages.markSent(tenant.businessId, m.id, providerId, key))
      assert.strictEqual(sent.deliveryStatus, "delivered")
      const replay = yield* store.claim(tenant.businessId, key, "fp", times(TestData.at(5)))
      assert.strictEqual(replay._tag, "Completed")
      if (replay._tag === "Completed") assert.deepStrictEqual(replay.outcome, new Idempotency.Sent({ message: sent }))
      // Only that key: another in flight stays in flight, and a message that does not exist completes nothing.
      assert.strictEqual((yield* store.claim(tenant.businessId, other, "fp", times(TestData.at(1))))._tag, "InFlight")
      const missing = yield* messages.markSent(tenant.businessId, yield* nextMessageId, wamid(), other)
      assert.isTrue(Option.isNone(missing))
      assert.strictEqual((yield* store.claim(tenant.businessId, other, "fp", times(TestData.at(1))))._tag, "InFlight")
    })
  )

  it.effect("IdempotencyStore replays a stored refusal exactly", () =>
    Effect.gen(function* () {
      const store = yield* Idempotency.IdempotencyStore
      const tenant = yield* TestData.seedTenant()
      const key = uniqueKey()
      const outcome = new Idempotency.Refused({
        error: new ProviderWindowClosed({ code: 131047, title: "Re-engagement message" })
      })
      yield* store.claim(tenant.businessId, key, "fp", times(TestData.at(0)))
      yield* store.complete(tenant.businessId, key, outcome)
      const replay = yield* store.claim(tenant.businessId, key, "fp", times(TestData.at(1)))
      assert.strictEqual(replay._tag, "Completed")
      if (replay._tag === "Completed") assert.deepStrictEqual(replay.outcome, outcome)
    })
  )

  it.effect("IdempotencyStore keys are per business; release frees a key; expiry replaces it", () =>
    Effect.gen(function* () {
      const store = yield* Idempotency.IdempotencyStore
      const a = yield* TestData.seedTenant("A")
      const b = yield* TestData.seedTenant("B")
      const key = uniqueKey()
      const now = TestData.at(0)
      assert.strictEqual((yield* store.claim(a.businessId, key, "fp-a", times(now)))._tag, "Claimed")
      assert.strictEqual((yield* store.claim(b.businessId, key, "fp-b", times(now)))._tag, "Claimed")
      yield* store.release(a.businessId, key)
      assert.strictEqual((yield* store.claim(a.businessId, key, "fp-other", times(now)))._tag, "Claimed")
      yield* store.complete(
        a.businessId,
        key,
        new Idempotency.Refused({ error: new ProviderWindowClosed({ code: null, title: "closed" }) })
      )
      const later = DateTime.add(now, { hours: 49 })
      assert.strictEqual((yield* store.claim(a.businessId, key, "fp-new", times(later)))._tag, "Claimed")
    })
  )

  it.effect("IdempotencyStore lets a dead claim be taken over after its lease, unless it recorded a message", () =>
    Effect.gen(function* () {
      const store = yield* Idempotency.IdempotencyStore
      const tenant = yield* TestData.seedTenant()
      const c = yield* newConversation(tenant, { customerPhone: uniquePhone() })
      const now = TestData.at(0)
      const afterLease = DateTime.add(now, { minutes: 3 })
      const quiet = uniqueKey()
      yield* store.claim(tenant.businessId, quiet, "fp", times(now))
      assert.strictEqual((yield* store.claim(tenant.businessId, quiet, "fp", times(afterLease)))._tag, "Claimed")
      const recorded = uniqueKey()
      yield* store.claim(tenant.businessId, recorded, "fp", times(now))
      const m = yield* sendPending(c.id, tenant, TestData.at(1), { key: recorded })
      const taken = yield* store.claim(tenant.businessId, recorded, "fp", times(afterLease))
      assert.strictEqual(taken._tag, "Abandoned")
      if (taken._tag === "Abandoned") assert.strictEqual(taken.messageId, m.id)
      assert.strictEqual((yield* store.claim(tenant.businessId, recorded, "fp", times(afterLease)))._tag, "InFlight")
    })
  )

  it.effect("IdempotencyStore.purgeExpired removes only expired keys", () =>
    Effect.gen(function* () {
      const store = yield* Idempotency.IdempotencyStore
      const tenant = yield* TestData.seedTenant()
      const old = uniqueKey()
      const young = uniqueKey()
      yield* store.claim(tenant.businessId, old, "fp", times(TestData.at(-60 * 72)))
      yield* store.claim(tenant.businessId, young, "fp", times(TestData.at(0)))
      const purged = yield* store.purgeExpired(TestData.at(1))
      assert.isTrue(purged >= 1)
      assert.strictEqual((yield* store.claim(tenant.businessId, old, "fp-x", times(TestData.at(1))))._tag, "Claimed")
      assert.strictEqual((yield* store.claim(tenant.businessId, young, "fp-x", times(TestData.at(1))))._tag, "Mismatch")
    })
  )

  it.effect("IdempotencyStore: 50 concurrent claims of one key yield exactly one owner", () =>
    Effect.gen(function* () {
      const store = yield* Idempotency.IdempotencyStore
      const tenant = yield* TestData.seedTenant()
      const key = uniqueKey()
      const results = yield* Effect.all(
        Array.from({ length: 50 }, () => store.claim(tenant.businessId, key, "fp", times(TestData.at(0)))),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(results.filter((r) => r._tag === "Claimed").length, 1)
      assert.strictEqual(results.filter((r) => r._tag === "InFlight").length, 49)
    })
  )
}
