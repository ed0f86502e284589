/**
 * The gateway with a `RateLimitStore` in its context (as on PostgreSQL): the limits come from the store, and a store
 * that cannot be read stops the send before anything reaches the provider.
 */
import { HttpClient, HttpClientResponse } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import {
  CustomerIdentity,
  E164,
  MessageId,
  type MessagingGateway,
  RateLimit,
  RateLimitStore,
  StorageError
} from "@parley/core"
import { Clock, Effect, Fiber, Ref, TestClock } from "effect"
import * as CloudApiGateway from "../src/CloudApiGateway.js"
import { number } from "./support/harness.js"
import { maxInWindow } from "./support/windows.js"

/** Answers every send like Meta, noting the clock. */
const stubClient = (seen: Ref.Ref<ReadonlyArray<number>>) =>
  HttpClient.make((request) =>
    Effect.gen(function* () {
      const at = yield* Clock.currentTimeMillis
      const n = (yield* Ref.updateAndGet(seen, (all) => [...all, at])).length
      return HttpClientResponse.fromWeb(
        request,
        new Response(JSON.stringify({ messaging_product: "whatsapp", messages: [{ id: `wamid.${n}` }] }), {
          status: 200,
          headers: { "content-type": "application/json" }
        })
      )
    })
  )

const gatewayOn = (store: RateLimitStore["Type"], seen: Ref.Ref<ReadonlyArray<number>>) =>
  CloudApiGateway.make({ messagesPerSecond: 10, pairRate: false, retry: { maxAttempts: 2, budget: "1 second" } }).pipe(
    Effect.provideService(HttpClient.HttpClient, stubClient(seen)),
    Effect.provideService(RateLimitStore, store)
  )

/** The memory store, counting the calls of each method that takes slots. */
const countingStore = Effect.gen(function* () {
  const store = yield* RateLimit.makeMemory
  const calls = yield* Ref.make({ reserveBoth: 0, reserveBatch: 0, reserve: 0 })
  const count = (method: "reserveBoth" | "reserveBatch" | "reserve") =>
    Ref.update(calls, (all) => ({ ...all, [method]: all[method] + 1 }))
  const counted: RateLimitStore["Type"] = {
    ...store,
    reserve: (...args) => Effect.zipRight(count("reserve"), store.reserve(...args)),
    reserveBatch: (...args) => Effect.zipRight(count("reserveBatch"), store.reserveBatch(...args)),
    reserveBoth: (...args) => Effect.zipRight(count("reserveBoth"), store.reserveBoth(...args))
  }
  return { store: counted, calls }
})

const withPairRate = (store: RateLimitStore["Type"], seen: Ref.Ref<ReadonlyArray<number>>) =>
  CloudApiGateway.make({
    messagesPerSecond: 10,
    pairRate: { burst: 2, every: "6 seconds" },
    retry: { maxAttempts: 2, budget: "1 second" }
  }).pipe(Effect.provideService(HttpClient.HttpClient, stubClient(seen)), Effect.provideService(RateLimitStore, store))

const send = (gateway: MessagingGateway["Type"], i: number, recipient = i) =>
  gateway.sendText({
    from: number,
    to: CustomerIdentity.byPhone(E164.make(`+1555${1_000_000 + recipient}`)),
    messageId: MessageId.make(`00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`),
    text: `message ${i}`
  })

/** Sends `count` messages at once (to `recipient`, or each to its own), then lets `seconds` pass on the test clock. */
const sendAll = (gateway: MessagingGateway["Type"], count: number, seconds: number, recipient?: number) =>
  Effect.gen(function* () {
    const fibers = yield* Effect.forEach(
      Array.from({ length: count }, (_, i) => i),
      (i) => Effect.fork(send(gateway, i, recipient ?? i))
    )
    for (let s = 0; s < seconds * 2; s++) yield* TestClock.adjust("500 millis")
    yield* Fiber.joinAll(fibers)
  })

describe("CloudApiGateway on a RateLimitStore", () => {
  it.effect("takes its turns from the store: never more than messagesPerSecond in any second", () =>
    Effect.gen(function* () {
      const seen = yield* Ref.make<ReadonlyArray<number>>([])
      const gateway = yield* gatewayOn(yield* RateLimit.makeMemory, seen)
      yield* sendAll(gateway, 25, 3)
      const times = yield* Ref.get(seen)
      assert.strictEqual(times.length, 25)
      assert.isAtMost(maxInWindow(times, 1_000), 10)
      assert.deepStrictEqual(
        [...times].sort((a, b) => a - b),
        Array.from({ length: 25 }, (_, i) => i * 100)
      )
    })
  )

  it.effect("a store that cannot be read fails the send as provider_unavailable, and nothing is sent", () =>
    Effect.gen(function* () {
      const seen = yield* Ref.make<ReadonlyArray<number>>([])
      const down = new StorageError({ operation: "RateLimitStore.reserve", reason: "connection refused" })
      const store: RateLimitStore["Type"] = {
        reserve: () => Effect.fail(down),
        reserveBatch: () => Effect.fail(down),
        reserveBoth: () => Effect.fail(down),
        pause: () => Effect.fail(down)
      }
      const gateway = yield* gatewayOn(store, seen)
      const fiber = yield* Effect.fork(Effect.flip(send(gateway, 1)))
      yield* TestClock.adjust("2 seconds")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "ProviderUnavailable")
      assert.strictEqual((yield* Ref.get(seen)).length, 0)
    })
  )

  it.effect("with the pair rate on, a send whose pair slot is due takes both turns in one store call", () =>
    Effect.gen(function* () {
      const seen = yield* Ref.make<ReadonlyArray<number>>([])
      const { calls, store } = yield* countingStore
      const gateway = yield* withPairRate(store, seen)
      yield* sendAll(gateway, 25, 3)
      const times = yield* Ref.get(seen)
      assert.isAtMost(maxInWindow(times, 1_000), 10)
      assert.deepStrictEqual(
        [...times].sort((a, b) => a - b),
        Array.from({ length: 25 }, (_, i) => i * 100)
      )
      assert.deepStrictEqual(yield* Ref.get(calls), { reserveBoth: 25, reserveBatch: 0, reserve: 0 })
    })
  )

  it.effect("a recipient past its pair burst waits for the pair's slot, then takes the number's turn", () =>
    Effect.gen(function* () {
      const seen = yield* Ref.make<ReadonlyArray<number>>([])
      const { calls, store } = yield* countingStore
      const gateway = yield* withPairRate(store, seen)
      yield* sendAll(gateway, 4, 15, 7)
      // A burst of 2 then one per 6 s for the pair; the number spaces the first two by its 100 ms.
      assert.deepStrictEqual(
        [...(yield* Ref.get(seen))].sort((a, b) => a - b),
        [0, 100, 6_000, 12_000]
      )
      // One combined call each; the two that waited for the pair took the number's turn after it.
      assert.deepStrictEqual(yield* Ref.get(calls), { reserveBoth: 4, reserveBatch: 2, reserve: 0 })
    })
  )

  it.effect(
    "a wait before the store sends (for a connection) is not lateness; a late answer takes the number's turn again",
    () =>
      Effect.gen(function* () {
        const { calls, store } = yield* countingStore
        // 300 ms in a queue, then the request leaves and is answered at once: the number's slot is kept.
        const queued: RateLimitStore["Type"] = {
          ...store,
          reserveBoth: (first, second) =>
            Effect.sleep("300 millis").pipe(
              Effect.zipRight(RateLimit.markSent),
              Effect.zipRight(store.reserveBoth(first, second))
            )
        }
        yield* sendAll(yield* withPairRate(queued, yield* Ref.make<ReadonlyArray<number>>([])), 1, 1)
        assert.deepStrictEqual(yield* Ref.get(calls), { reserveBoth: 1, reserveBatch: 0, reserve: 0 })
        // Sent at once, answered 300 ms later (more than the number's 100 ms interval): that slot may be stale, so the
        // number's turn is taken again through its limiter.
        const late: RateLimitStore["Type"] = {
          ...store,
          reserveBoth: (first, second) =>
            RateLimit.markSent.pipe(
              Effect.zipRight(store.reserveBoth(first, second)),
              Effect.zipLeft(Effect.sleep("300 millis"))
            )
        }
        yield* sendAll(yield* withPairRate(late, yield* Ref.make<ReadonlyArray<number>>([])), 1, 1, 1)
        assert.deepStrictEqual(yield* Ref.get(calls), { reserveBoth: 2, reserveBatch: 1, reserve: 0 })
      })
  )
})
