/**
 * `RateLimiter.fromStore`: callers of one key in one process share reservations (a batch of slots per round trip),
 * each still gets a slot of its own, and a slot whose caller comes back too late is given up and taken again.
 */
import { assert, describe, it } from "@effect/vitest"
import { RateLimit, type RateLimitStore } from "@parley/core"
import { Effect, Either, Ref, TestClock } from "effect"
import * as RateLimiter from "../src/RateLimiter.js"

/** The memory store, counting reservations and able to answer slowly (a stalled database or process). */
const countingStore = (delayMillis: Ref.Ref<number>) =>
  Effect.gen(function* () {
    const store = yield* RateLimit.makeMemory
    const calls = yield* Ref.make<ReadonlyArray<number>>([])
    const counted: RateLimitStore["Type"] = {
      ...store,
      reserveBatch: (key, rate, count, maxWait) =>
        Effect.gen(function* () {
          yield* Ref.update(calls, (all) => [...all, count])
          // A real store answers asynchronously: other callers arrive meanwhile.
          yield* Effect.yieldNow()
          const batch = yield* store.reserveBatch(key, rate, count, maxWait)
          const delay = yield* Ref.get(delayMillis)
          if (delay > 0) yield* TestClock.adjust(delay)
          return batch
        })
    }
    return { store: counted, calls }
  })

describe("RateLimiter.fromStore", () => {
  it.effect("100 concurrent callers take 100 distinct slots in a few round trips", () =>
    Effect.gen(function* () {
      const { calls, store } = yield* countingStore(yield* Ref.make(0))
      const limiter = yield* RateLimiter.fromStore(store, "test", { intervalMillis: 10, burst: 1 })
      const waits = yield* Effect.forEach(
        Array.from({ length: 100 }),
        () => Effect.map(limiter.reserve("n", Number.POSITIVE_INFINITY), Either.getOrThrow),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(
        [...waits].sort((a, b) => a - b),
        Array.from({ length: 100 }, (_, i) => i * 10)
      )
      const counts = yield* Ref.get(calls)
      assert.strictEqual(
        counts.reduce((a, b) => a + b, 0),
        100
      )
      assert.isAtMost(counts.length, 5)
    })
  )

  it.effect("a batch never spans more than a second of a slow schedule", () =>
    Effect.gen(function* () {
      const { calls, store } = yield* countingStore(yield* Ref.make(0))
      const limiter = yield* RateLimiter.fromStore(store, "test", { intervalMillis: 6_000, burst: 45 })
      yield* Effect.forEach(Array.from({ length: 10 }), () => limiter.reserve("pair", Number.POSITIVE_INFINITY), {
        concurrency: "unbounded"
      })
      assert.deepStrictEqual(
        yield* Ref.get(calls),
        Array.from({ length: 10 }, () => 1)
      )
    })
  )

  it.effect("a reservation answered too late is given up and taken again, at most 3 times", () =>
    Effect.gen(function* () {
      const delay = yield* Ref.make(50)
      const { calls, store } = yield* countingStore(delay)
      const limiter = yield* RateLimiter.fromStore(store, "test", { intervalMillis: 100, burst: 1 })
      const wait = Either.getOrThrow(yield* limiter.reserve("slow", Number.POSITIVE_INFINITY))
      // Each answer comes 50 ms after its question: 4 reservations (the first and 3 retakes) at 0, 50, 100 and
      // 150 ms for the slots at 0, 100, 200 and 300 ms; the last is kept, 150 ms after it was answered at 200 ms.
      assert.strictEqual((yield* Ref.get(calls)).length, 4)
      assert.strictEqual(wait, 150)
      yield* Ref.set(delay, 0)
      // The given-up slots stay taken: the next one is at 400 ms, 200 ms from now.
      assert.strictEqual(Either.getOrThrow(yield* limiter.reserve("slow", Number.POSITIVE_INFINITY)), 200)
    })
  )
})
