/**
 * `RateLimit.timed`: when a store call's request was sent, for the limiters that judge how late its answer came. A
 * store that queues before sending (a connection pool) marks the moment its request leaves.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber, TestClock } from "effect"
import * as RateLimit from "../src/RateLimit.js"

describe("RateLimit.timed", () => {
  it.effect("a call whose store marks nothing was sent when it started", () =>
    Effect.gen(function* () {
      yield* TestClock.adjust(1_000)
      const [value, sent] = yield* RateLimit.timed(Effect.as(TestClock.adjust(300), "answer"))
      assert.strictEqual(value, "answer")
      assert.strictEqual(sent, 1_000)
    })
  )

  it.effect("a store that queues before sending marks when its request leaves: the queue is not counted", () =>
    Effect.gen(function* () {
      const store = Effect.gen(function* () {
        const timedHere = yield* RateLimit.isTimed
        yield* TestClock.adjust(250) // waiting for a connection
        yield* RateLimit.markSent
        yield* TestClock.adjust(5) // the statement
        return timedHere
      })
      const [timedHere, sent] = yield* RateLimit.timed(store)
      assert.isTrue(timedHere)
      assert.strictEqual(sent, 250)
      assert.strictEqual(yield* Clock.currentTimeMillis, 255)
    })
  )

  it.effect("outside a timed call, marking is a no-op and nothing is timed", () =>
    Effect.gen(function* () {
      assert.isFalse(yield* RateLimit.isTimed)
      yield* RateLimit.markSent
      // Timings do not leak from one call into the next, nor into a concurrent one.
      const slow = yield* Effect.fork(RateLimit.timed(Effect.zipRight(Effect.sleep(40), RateLimit.markSent)))
      const [, fastSent] = yield* RateLimit.timed(Effect.zipRight(TestClock.adjust(10), RateLimit.markSent))
      yield* TestClock.adjust(30)
      const [, slowSent] = yield* Fiber.join(slow)
      assert.strictEqual(fastSent, 10)
      assert.strictEqual(slowSent, 40)
      assert.isFalse(yield* RateLimit.isTimed)
    })
  )
})
