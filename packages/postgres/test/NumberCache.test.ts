/**
 * The per-process cache of WhatsApp numbers (the send path's `findById`): fresh for `maxAge` by the clock, stale at
 * once after an invalidation (even for a read that was under way), never holding a number that was not found, and
 * separate per client and per `Secrets`.
 */
import { assert, describe, it } from "@effect/vitest"
import { BusinessId, WhatsAppNumber, WhatsAppNumberId } from "@parley/core"
import { Effect, Option, Redacted, TestClock } from "effect"
import * as NumberCache from "../src/internal/numberCache.js"

const businessId = BusinessId.make("5b1f4a52-1f7e-4d55-9c1b-0c6f1f0b2a11")
const numberId = WhatsAppNumberId.make("0f8d2c9e-6a4b-4c1e-8f3a-2b7d9e1c4a55")

const numberWith = (token: string) =>
  new WhatsAppNumber({
    id: numberId,
    businessId,
    providerPhoneNumberId: "100000000000002",
    displayPhoneNumber: "15550002222",
    wabaId: null,
    accessToken: Redacted.make(token)
  })

/** A load that counts its calls and returns what `current` holds. */
const loader = (current: { value: Option.Option<WhatsAppNumber> }) => {
  const calls = { count: 0 }
  const load = Effect.sync(() => {
    calls.count += 1
    return current.value
  })
  return { calls, load }
}

describe("NumberCache", () => {
  it.effect("serves a number for maxAge, then reads it again", () =>
    Effect.gen(function* () {
      const client = {}
      const secrets = {}
      const current = { value: Option.some(numberWith("a")) }
      const { calls, load } = loader(current)
      yield* NumberCache.cached(client, secrets, businessId, numberId, load)
      current.value = Option.some(numberWith("b"))
      const cached = yield* NumberCache.cached(client, secrets, businessId, numberId, load)
      assert.strictEqual(calls.count, 1)
      assert.strictEqual(Redacted.value(Option.getOrThrow(cached).accessToken), "a")
      yield* TestClock.adjust(NumberCache.maxAge)
      const fresh = yield* NumberCache.cached(client, secrets, businessId, numberId, load)
      assert.strictEqual(calls.count, 2)
      assert.strictEqual(Redacted.value(Option.getOrThrow(fresh).accessToken), "b")
    })
  )

  it.effect("an invalidation makes every entry stale, and a read under way is not kept", () =>
    Effect.gen(function* () {
      const client = {}
      const secrets = {}
      const current = { value: Option.some(numberWith("old")) }
      const { calls, load } = loader(current)
      yield* NumberCache.cached(client, secrets, businessId, numberId, load)
      yield* NumberCache.invalidate(client)
      // A read that began before an invalidation returns what it read, and leaves nothing behind.
      const racing = Effect.zipLeft(load, NumberCache.invalidate(client))
      yield* NumberCache.cached(client, secrets, businessId, numberId, racing)
      current.value = Option.some(numberWith("new"))
      const after = yield* NumberCache.cached(client, secrets, businessId, numberId, load)
      assert.strictEqual(Redacted.value(Option.getOrThrow(after).accessToken), "new")
      assert.strictEqual(calls.count, 3)
    })
  )

  it.effect("a number not found is not cached; clients and Secrets do not share entries", () =>
    Effect.gen(function* () {
      const client = {}
      const secrets = {}
      const current = { value: Option.none<WhatsAppNumber>() }
      const { calls, load } = loader(current)
      yield* NumberCache.cached(client, secrets, businessId, numberId, load)
      current.value = Option.some(numberWith("a"))
      yield* NumberCache.cached(client, secrets, businessId, numberId, load)
      yield* NumberCache.cached(client, {}, businessId, numberId, load)
      yield* NumberCache.cached({}, secrets, businessId, numberId, load)
      yield* NumberCache.cached(client, secrets, businessId, numberId, load)
      assert.strictEqual(calls.count, 4)
    })
  )
})
