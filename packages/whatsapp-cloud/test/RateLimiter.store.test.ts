/**
 * `RateLimiter.fromStore`: callers of one key in one process share reservations (a batch of slots per round trip),
 * each still gets a slot of its own, and a slot whose caller comes back too late is given up and taken again.
 */
import { assert, describe, it } from "@effect/vitest"
import { RateLimit, type RateLimitStore } from "@parley/core"
import { Effect, Either, Ref, TestClock } from "effect"
import * as RateLimiter from "../src/RateLimiter.js"

/**
 * The memory store, counting reservations and able to answer slowly (a stalled database or process), or to wait
 * before it sends (`queueMillis`: a pool with no free connection) and then mark when it sends.
 */
const countingStore = (delayMillis: Ref.Ref<number>, queueMillis?: number) =>
  Effect.gen(function* () {
    const store = yield* RateLimit.makeMemory
    const calls = yield* Ref.make<ReadonlyArray<number>>([])
    const counted: RateLimitStore["Type"] = {
      ...store,
      reserveBatch: (key, rate, count, maxWait) =>
        Effect.gen(function* () {
          yield* Ref.update(calls, (all) => [...all, count])
          if (queueMillis !== undefined) {
            yield* TestClock.adjust(queueMillis)
            yield* RateLimit.markSent
          }
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
      const limiter = yield* RateLimiter.fromStore(store, "test", { intervalMillis: 10, burst: 1 })
      // Each answer comes 50 ms after its question, later than 20 ms and than the 10 ms interval: 4 reservations
      // (the first and 3 retakes) at 0, 50, 100 and 150 ms; the last is kept, answered at 200 ms, its slot due.
      const wait = Either.getOrThrow(yield* limiter.reserve("slow", Number.POSITIVE_INFINITY))
      assert.deepStrictEqual(yield* Ref.get(calls), [1, 1, 1, 1])
      assert.strictEqual(wait, 0)
      yield* Ref.set(delay, 0)
      // The given-up slots stay taken: the schedule moved on by four intervals, so at 200 ms the next slot is now.
      assert.strictEqual(Either.getOrThrow(yield* limiter.reserve("slow", Number.POSITIVE_INFINITY)), 0)
      assert.strictEqual((yield* Ref.get(calls)).length, 5)
    })
  )

  it.effect("on a schedule slower than the lateness bound, an answer late by less than one interval is kept", () =>
    Effect.gen(function* () {
      const delay = yield* Ref.make(50)
      const { calls, store } = yield* countingStore(delay)
      const limiter = yield* RateLimiter.fromStore(store, "test", { intervalMillis: 100, burst: 1 })
      // 50 ms late is more than 20 ms but less than the 100 ms interval: one reservation, kept.
      assert.strictEqual(Either.getOrThrow(yield* limiter.reserve("pair", Number.POSITIVE_INFINITY)), 0)
      assert.deepStrictEqual(yield* Ref.get(calls), [1])
      // The kept slot is taken: at 50 ms the next is the one at 100 ms.
      yield* Ref.set(delay, 0)
      assert.strictEqual(Either.getOrThrow(yield* limiter.reserve("pair", Number.POSITIVE_INFINITY)), 50)
      // 150 ms late is more than the interval: given up and taken again, 3 times (asked at 50, 200, 350 and 500 ms
      // for the slots at 200, 300, 400 and 500 ms); the last, answered at 650 ms, is due.
      yield* Ref.set(delay, 150)
      assert.strictEqual(Either.getOrThrow(yield* limiter.reserve("pair", Number.POSITIVE_INFINITY)), 0)
      assert.deepStrictEqual(yield* Ref.get(calls), [1, 1, 1, 1, 1, 1])
    })
  )
  it.effect("a reservation that waited before it was sent (for a connection) is not late: kept", () =>
    Effect.gen(function* () {
      // 200 ms in the store's queue, answered 5 ms after it left: one reservation, its slot due.
      const { calls, store } = yield* countingStore(yield* Ref.make(5), 200)
      const limiter = yield* RateLimiter.fromStore(store, "test", { intervalMillis: 10, burst: 1 })
      assert.strictEqual(Either.getOrThrow(yield* limiter.reserve("queued", Number.POSITIVE_INFINITY)), 0)
      assert.deepStrictEqual(yield* Ref.get(calls), [1])
    })
  )
})
