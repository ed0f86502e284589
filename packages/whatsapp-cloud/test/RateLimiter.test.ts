/**
 * The limiters: properties of the pure steps (never more than the limit in any window, work-conserving, token
 * bucket conformance) and their behaviour on the TestClock (callers queue instead of failing).
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, type Duration, Effect, Either, FastCheck, Fiber, Ref, TestClock } from "effect"
import * as RateLimiter from "../src/RateLimiter.js"
import { maxInWindow } from "./support/windows.js"

/** Non-decreasing arrival times. */
const arrivals = FastCheck.array(FastCheck.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 200 }).map(
  (gaps) => {
    let t = 0
    return gaps.map((gap) => (t += gap))
  }
)

describe("RateLimiter.windowStep", () => {
  it.prop(
    "never grants more than the limit in any window, spaces grants evenly, and never idles while callers wait",
    {
      times: arrivals,
      limit: FastCheck.integer({ min: 1, max: 12 }),
      window: FastCheck.integer({ min: 50, max: 2000 })
    },
    ({ times, limit, window }) => {
      let state = RateLimiter.emptyWindow
      const grants: Array<number> = []
      for (const now of times) {
        const [reservation, next] = RateLimiter.windowStep(
          state,
          { limit, windowMillis: window },
          now,
          Number.POSITIVE_INFINITY
        )
        state = next
        assert.isTrue(Either.isRight(reservation))
        grants.push(now + Either.getOrThrow(reservation))
      }
      assert.isAtMost(maxInWindow(grants, window), limit)
      grants.forEach((grant, i) => {
        const arrival = times[i] ?? 0
        assert.isAtLeast(grant, arrival)
        // Work-conserving: a grant is as early as the arrival, the spacing after the previous grant and the window allow.
        const spaced = i > 0 ? (grants[i - 1] ?? 0) + window / limit : 0
        const earliest = Math.max(arrival, spaced, i >= limit ? (grants[i - limit] ?? 0) + window : 0)
        assert.strictEqual(grant, earliest)
      })
    }
  )

  it("a caller whose wait would exceed the maximum reserves nothing", () => {
    const options = { limit: 1, windowMillis: 1000 }
    const [first, s1] = RateLimiter.windowStep(RateLimiter.emptyWindow, options, 0, 0)
    const [refused, s2] = RateLimiter.windowStep(s1, options, 0, 500)
    const [queued] = RateLimiter.windowStep(s2, options, 0, 5000)
    // With a limit of 1 per second the spacing and the window agree: the next slot is a second later.
    assert.deepStrictEqual([first, refused, queued], [Either.right(0), Either.left(1000), Either.right(1000)])
  })
})

describe("RateLimiter.bucketStep", () => {
  it.prop(
    "conforms to the bucket: at most capacity + elapsed/interval grants between any two grants",
    {
      times: arrivals,
      capacity: FastCheck.integer({ min: 1, max: 45 }),
      refill: FastCheck.integer({ min: 10, max: 6000 })
    },
    ({ times, capacity, refill }) => {
      let state = RateLimiter.fullBucket(capacity, 0)
      const grants: Array<number> = []
      for (const now of times) {
        const [reservation, next] = RateLimiter.bucketStep(
          state,
          { capacity, refillMillis: refill },
          now,
          Number.POSITIVE_INFINITY
        )
        state = next
        grants.push(now + Either.getOrThrow(reservation))
      }
      const sorted = [...grants].sort((a, b) => a - b)
      for (let i = 0; i < sorted.length; i++) {
        for (let j = i; j < sorted.length; j++) {
          const allowed = capacity + ((sorted[j] ?? 0) - (sorted[i] ?? 0)) / refill
          assert.isAtMost(j - i + 1, allowed + 1e-9)
        }
      }
    }
  )
})

/** Runs `n` callers that take a slot of `key(i)` and report when they got it, stepping the TestClock. */
const race = (
  limiter: RateLimiter.Limiter,
  n: number,
  key: (i: number) => string,
  steps: number,
  step: Duration.DurationInput = "50 millis"
) =>
  Effect.gen(function* () {
    const log = yield* Ref.make<ReadonlyArray<readonly [number, number]>>([])
    const fibers = yield* Effect.forEach(
      Array.from({ length: n }, (_, i) => i),
      (i) =>
        Effect.fork(
          RateLimiter.take(limiter, key(i)).pipe(
            Effect.zipRight(Clock.currentTimeMillis),
            Effect.flatMap((t) => Ref.update(log, (all) => [...all, [i, t] as const]))
          )
        )
    )
    for (let s = 0; s < steps; s++) yield* TestClock.adjust(step)
    yield* Fiber.joinAll(fibers)
    return yield* Ref.get(log)
  })

describe("RateLimiter on the TestClock", () => {
  it.effect("a window of 5/s queues 23 callers 200 ms apart, never more than 5 in any second", () =>
    Effect.gen(function* () {
      const limiter = yield* RateLimiter.makeSlidingWindow({ limit: 5, window: "1 second" })
      const log = yield* race(limiter, 23, () => "number-1", 10, "500 millis")
      const times = log.map(([, t]) => t)
      assert.strictEqual(times.length, 23)
      assert.isAtMost(maxInWindow(times, 1000), 5)
      assert.deepStrictEqual(
        [...times].sort((a, b) => a - b),
        Array.from({ length: 23 }, (_, i) => i * 200)
      )
    })
  )

  it.effect("keys are independent", () =>
    Effect.gen(function* () {
      const limiter = yield* RateLimiter.makeSlidingWindow({ limit: 2, window: "1 second" })
      const log = yield* race(limiter, 6, (i) => `number-${i % 3}`, 10)
      assert.deepStrictEqual(
        log.map(([i, t]) => [i % 3, t]).sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0) || (a[1] ?? 0) - (b[1] ?? 0)),
        [
          [0, 0],
          [0, 500],
          [1, 0],
          [1, 500],
          [2, 0],
          [2, 500]
        ]
      )
    })
  )

  it.effect("a pair bucket lets a burst through, then spaces one recipient by the refill interval", () =>
    Effect.gen(function* () {
      const limiter = yield* RateLimiter.makeTokenBucket({ capacity: 3, refillEvery: "6 seconds" })
      const log = yield* race(limiter, 6, () => "number:customer", 20, "1 second")
      assert.deepStrictEqual(
        log.map(([, t]) => t).sort((a, b) => a - b),
        [0, 0, 0, 6000, 12000, 18000]
      )
    })
  )

  it.effect("a pause holds a key's next slots", () =>
    Effect.gen(function* () {
      const limiter = yield* RateLimiter.makeSlidingWindow({ limit: 100 })
      yield* limiter.pause("number-1", 2000)
      const log = yield* race(limiter, 3, (i) => (i === 0 ? "number-2" : "number-1"), 6, "500 millis")
      assert.deepStrictEqual(Object.fromEntries(log), { 0: 0, 1: 2000, 2: 2010 })
    })
  )

  it.effect("take fails with the wait when it would exceed the maximum", () =>
    Effect.gen(function* () {
      const limiter = yield* RateLimiter.makeTokenBucket({ capacity: 1, refillEvery: "6 seconds" })
      yield* RateLimiter.take(limiter, "k", "1 second")
      const wait = yield* Effect.flip(RateLimiter.take(limiter, "k", "1 second"))
      assert.strictEqual(wait, 6000)
    })
  )
})
