import { assert, describe, it } from "@effect/vitest"
import { runRateLimitStoreContract } from "@parley/core/testing"
import { Effect, Either, FastCheck } from "effect"
import * as RateLimit from "../src/RateLimit.js"

/** A call: time advances by `dt`, then either a pause of `pause` ms or a reservation accepting `maxWait`. */
const call = FastCheck.record({
  dt: FastCheck.oneof(FastCheck.constant(0), FastCheck.integer({ min: 0, max: 5_000 })),
  pause: FastCheck.option(FastCheck.integer({ min: 0, max: 10_000 }), { freq: 6 }),
  maxWait: FastCheck.oneof(
    FastCheck.constant(0),
    FastCheck.constant(Number.POSITIVE_INFINITY),
    FastCheck.integer({ min: 0, max: 20_000 })
  )
})

const rate = FastCheck.record({
  intervalMillis: FastCheck.oneof(FastCheck.constant(1), FastCheck.integer({ min: 1, max: 6_000 })),
  burst: FastCheck.oneof(FastCheck.constant(1), FastCheck.integer({ min: 1, max: 50 }))
})

interface Run {
  readonly grants: ReadonlyArray<number>
  readonly pausedUntil: ReadonlyArray<readonly [grantAt: number, pausedUntil: number]>
  readonly refusalsKeptState: boolean
}

type Call = typeof call extends FastCheck.Arbitrary<infer A> ? A : never

const simulate = (limit: RateLimit.Rate, calls: ReadonlyArray<Call>): Run => {
  let state = RateLimit.restingCell
  let now = 0
  let refusalsKeptState = true
  const grants: Array<number> = []
  const paused: Array<readonly [number, number]> = []
  for (const c of calls) {
    now += c.dt
    if (c.pause !== null) {
      state = { ...state, pausedUntil: Math.max(state.pausedUntil, now + c.pause) }
      continue
    }
    const [reservation, next] = RateLimit.gcraStep(state, limit, now, c.maxWait)
    if (Either.isRight(reservation)) {
      grants.push(now + reservation.right)
      paused.push([now + reservation.right, state.pausedUntil])
    } else {
      refusalsKeptState &&= next === state && reservation.left > c.maxWait
    }
    state = next
  }
  return { grants, pausedUntil: paused, refusalsKeptState }
}

describe("RateLimit.gcraStep", () => {
  it.prop(
    "fewer than window / interval + burst grants fall in any window, whatever the calls",
    {
      limit: rate,
      calls: FastCheck.array(call, { maxLength: 200 }),
      window: FastCheck.integer({ min: 1, max: 60_000 })
    },
    ({ limit, calls, window }) => {
      const grants = [...simulate(limit, calls).grants].sort((a, b) => a - b)
      for (let i = 0; i < grants.length; i++) {
        let count = 0
        for (let j = i; j < grants.length && grants[j]! < grants[i]! + window; j++) count++
        assert.isBelow(count, window / limit.intervalMillis + limit.burst)
      }
    }
  )

  it.prop(
    "a burst of n per second is never more than n in any second",
    { perSecond: FastCheck.integer({ min: 1, max: 1_000 }), calls: FastCheck.array(call, { maxLength: 300 }) },
    ({ perSecond, calls }) => {
      const grants = [...simulate({ intervalMillis: 1_000 / perSecond, burst: 1 }, calls).grants].sort((a, b) => a - b)
      for (let i = 0; i + perSecond < grants.length; i++) {
        assert.isAtLeast(grants[i + perSecond]! - grants[i]!, 1_000 - 1e-6)
      }
    }
  )

  it.prop(
    "no grant falls inside a pause, and a refusal changes nothing",
    { limit: rate, calls: FastCheck.array(call, { maxLength: 200 }) },
    ({ limit, calls }) => {
      const run = simulate(limit, calls)
      for (const [grantAt, pausedUntil] of run.pausedUntil) assert.isAtLeast(grantAt, pausedUntil)
      assert.isTrue(run.refusalsKeptState)
    }
  )

  it.prop(
    "a batch of n is n single reservations at the same instant",
    {
      limit: rate,
      calls: FastCheck.array(call, { maxLength: 30 }),
      count: FastCheck.integer({ min: 1, max: 70 }),
      maxWait: call.map((c) => c.maxWait)
    },
    ({ limit, calls, count, maxWait }) => {
      let state = RateLimit.restingCell
      let now = 0
      for (const c of calls) {
        now += c.dt
        state = RateLimit.gcraStep(state, limit, now, c.maxWait)[1]
      }
      const [batch, afterBatch] = RateLimit.gcraBatch(state, limit, now, maxWait, count)
      const [first, afterFirst] = RateLimit.gcraStep(state, limit, now, maxWait)
      if (Either.isLeft(first)) {
        assert.deepStrictEqual(batch, Either.left(first.left))
        assert.strictEqual(afterBatch, state)
        return
      }
      let single = afterFirst
      const waits = [first.right]
      for (let i = 1; i < count; i++) {
        const [next, after] = RateLimit.gcraStep(single, limit, now, Number.POSITIVE_INFINITY)
        waits.push(Either.getOrThrow(next))
        single = after
      }
      assert.deepStrictEqual(Either.getOrThrow(batch), waits)
      assert.deepStrictEqual(afterBatch, single)
    }
  )

  it("a burst from rest goes at once, then one per interval", () => {
    const limit = { intervalMillis: 6_000, burst: 45 }
    const waits: Array<number> = []
    let state = RateLimit.restingCell
    for (let i = 0; i < 47; i++) {
      const [reservation, next] = RateLimit.gcraStep(state, limit, 1_000, Number.POSITIVE_INFINITY)
      waits.push(Either.getOrThrow(reservation))
      state = next
    }
    assert.deepStrictEqual(
      waits.slice(0, 45),
      Array.from({ length: 45 }, () => 0)
    )
    assert.deepStrictEqual(waits.slice(45), [6_000, 12_000])
  })
})

describe("RateLimit.makeMemory", () => {
  it.effect("each run is a store of its own: a key spent in one is at rest in another", () =>
    Effect.gen(function* () {
      const limit = { intervalMillis: 1_000, burst: 1 }
      const first = yield* RateLimit.makeMemory
      const second = yield* RateLimit.makeMemory
      assert.deepStrictEqual(yield* first.reserve("k", limit, Number.POSITIVE_INFINITY), Either.right(0))
      assert.deepStrictEqual(yield* first.reserve("k", limit, Number.POSITIVE_INFINITY), Either.right(1_000))
      assert.deepStrictEqual(yield* second.reserve("k", limit, Number.POSITIVE_INFINITY), Either.right(0))
    })
  )
})

runRateLimitStoreContract("memory", RateLimit.layerMemory)
