/**
 * The contract every `RateLimitStore` adapter must pass (memory, PGlite, PostgreSQL), on the live clock: the
 * PostgreSQL store reads the database's clock, so waits are checked with a tolerance for the time a call takes.
 * Each test uses keys of its own, so the suite can share one database across files.
 */
import { assert, layer } from "@effect/vitest"
import { Clock, Effect, Either, type Layer, Option } from "effect"
import { type Rate, RateLimitStore, type Reservation, timed } from "../RateLimit.js"

/** How far a wait may fall short of its ideal: the time between the store's "now" and ours (calls, scheduling). */
const slack = 2_000

let counter = 0
const freshKey = (label: string) => `contract:${label}:${++counter}`

const right = (reservation: Reservation): number =>
  Either.match(reservation, {
    onLeft: (wait) => assert.fail(`expected a reservation, got a refusal (wait ${wait} ms)`),
    onRight: (wait) => wait
  })

const near = (actual: number, ideal: number) => {
  assert.isAtMost(actual, ideal + 1, `wait ${actual} ms, expected about ${ideal}`)
  assert.isAtLeast(actual, ideal - slack, `wait ${actual} ms, expected about ${ideal}`)
}

export const runRateLimitStoreContract = <E>(name: string, store: Layer.Layer<RateLimitStore, E>): void =>
  layer(store, { excludeTestServices: true, timeout: 60_000 })(`RateLimitStore contract: ${name}`, (it) => {
    const reserveAll = (key: string, rate: Rate, count: number, maxWait = Number.POSITIVE_INFINITY) =>
      Effect.flatMap(RateLimitStore, (limits) =>
        Effect.forEach(Array.from({ length: count }), () => limits.reserve(key, rate, maxWait))
      )

    it.effect("a burst goes at once, then one grant per interval", () =>
      Effect.gen(function* () {
        const waits = (yield* reserveAll(freshKey("burst"), { intervalMillis: 10_000, burst: 3 }, 5)).map(right)
        near(waits[0]!, 0)
        near(waits[1]!, 0)
        near(waits[2]!, 0)
        near(waits[3]!, 10_000)
        near(waits[4]!, 20_000)
      })
    )

    it.effect("a burst of 1 spaces grants by the interval", () =>
      Effect.gen(function* () {
        const waits = (yield* reserveAll(freshKey("spaced"), { intervalMillis: 5_000, burst: 1 }, 4)).map(right)
        for (const [i, wait] of waits.entries()) near(wait, i * 5_000)
      })
    )

    it.effect("a caller that would wait longer than it accepts reserves nothing", () =>
      Effect.gen(function* () {
        const limits = yield* RateLimitStore
        const key = freshKey("refuse")
        const rate = { intervalMillis: 60_000, burst: 1 }
        near(right(yield* limits.reserve(key, rate, 0)), 0)
        for (let i = 0; i < 3; i++) {
          const refused = yield* limits.reserve(key, rate, 1_000)
          assert.isTrue(Either.isLeft(refused))
          if (Either.isLeft(refused)) near(refused.left, 60_000)
        }
        // Had the refusals reserved, this one would be three intervals further.
        near(right(yield* limits.reserve(key, rate, Number.POSITIVE_INFINITY)), 60_000)
      })
    )

    it.effect("a pause holds every slot of the key, then the burst is available", () =>
      Effect.gen(function* () {
        const limits = yield* RateLimitStore
        const key = freshKey("pause")
        yield* limits.pause(key, 8_000)
        const waits = (yield* reserveAll(key, { intervalMillis: 1_000, burst: 2 }, 3)).map(right)
        near(waits[0]!, 8_000)
        near(waits[1]!, 8_000)
        near(waits[2]!, 9_000)
      })
    )

    it.effect("keys are independent", () =>
      Effect.gen(function* () {
        const rate = { intervalMillis: 60_000, burst: 1 }
        yield* reserveAll(freshKey("busy"), rate, 3)
        near(right((yield* reserveAll(freshKey("idle"), rate, 1))[0]!), 0)
      })
    )

    it.effect("50 concurrent callers each get a slot of their own", () =>
      Effect.gen(function* () {
        const limits = yield* RateLimitStore
        const key = freshKey("concurrent")
        const interval = 10_000
        const burst = 5
        const waits = yield* Effect.forEach(
          Array.from({ length: 50 }),
          () => Effect.map(limits.reserve(key, { intervalMillis: interval, burst }, Number.POSITIVE_INFINITY), right),
          { concurrency: "unbounded" }
        )
        // Slot k (0-based, after the burst) is k intervals out; rounding absorbs the time each call took.
        const slots = waits.map((wait) => Math.round(wait / interval)).sort((a, b) => a - b)
        const expected = [...Array.from({ length: burst }, () => 0), ...Array.from({ length: 45 }, (_, k) => k + 1)]
        assert.deepStrictEqual(slots, expected)
      })
    )

    it.effect("a batch takes the slots that as many single reservations would take", () =>
      Effect.gen(function* () {
        const limits = yield* RateLimitStore
        const key = freshKey("batch")
        const rate = { intervalMillis: 10_000, burst: 2 }
        const batch = yield* limits.reserveBatch(key, rate, 5, Number.POSITIVE_INFINITY)
        assert.isTrue(Either.isRight(batch))
        if (Either.isRight(batch)) {
          assert.strictEqual(batch.right.length, 5)
          for (const [i, wait] of batch.right.entries()) near(wait, [0, 0, 10_000, 20_000, 30_000][i]!)
        }
        near(right(yield* limits.reserve(key, rate, Number.POSITIVE_INFINITY)), 40_000)
      })
    )

    it.effect("a batch whose first slot is too far reserves nothing", () =>
      Effect.gen(function* () {
        const limits = yield* RateLimitStore
        const key = freshKey("batch-refused")
        const rate = { intervalMillis: 60_000, burst: 1 }
        near(right(yield* limits.reserve(key, rate, 0)), 0)
        const refused = yield* limits.reserveBatch(key, rate, 3, 1_000)
        assert.isTrue(Either.isLeft(refused))
        if (Either.isLeft(refused)) near(refused.left, 60_000)
        near(right(yield* limits.reserve(key, rate, Number.POSITIVE_INFINITY)), 60_000)
      })
    )

    it.effect("10 concurrent batches of 5 take 50 distinct slots", () =>
      Effect.gen(function* () {
        const limits = yield* RateLimitStore
        const key = freshKey("concurrent-batches")
        const interval = 10_000
        const batches = yield* Effect.forEach(
          Array.from({ length: 10 }),
          () => limits.reserveBatch(key, { intervalMillis: interval, burst: 5 }, 5, Number.POSITIVE_INFINITY),
          { concurrency: "unbounded" }
        )
        const slots = batches
          .flatMap((batch) => Either.getOrThrow(batch))
          .map((wait) => Math.round(wait / interval))
          .sort((a, b) => a - b)
        assert.deepStrictEqual(slots, [
          ...Array.from({ length: 5 }, () => 0),
          ...Array.from({ length: 45 }, (_, k) => k + 1)
        ])
      })
    )

    it.effect("reserveBoth takes the second only when the first is due now, at the same instant", () =>
      Effect.gen(function* () {
        const limits = yield* RateLimitStore
        const rate = { intervalMillis: 10_000, burst: 1 }
        const first = { key: freshKey("both-first"), rate, maxWaitMillis: Number.POSITIVE_INFINITY }
        const second = { key: freshKey("both-second"), rate, maxWaitMillis: Number.POSITIVE_INFINITY }
        const [a, aSecond] = yield* limits.reserveBoth(first, second)
        near(right(a), 0)
        near(right(Option.getOrThrow(aSecond)), 0)
        // The first's next slot waits: the second is not asked.
        const [b, bSecond] = yield* limits.reserveBoth(first, second)
        near(right(b), 10_000)
        assert.isTrue(Option.isNone(bSecond))
        // Each key took exactly the slots reported: one of the second, two of the first.
        near(right(yield* limits.reserve(second.key, rate, Number.POSITIVE_INFINITY)), 10_000)
        near(right(yield* limits.reserve(first.key, rate, Number.POSITIVE_INFINITY)), 20_000)
      })
    )

    it.effect("reserveBoth: a refused first reserves neither; a refused second keeps the first's slot", () =>
      Effect.gen(function* () {
        const limits = yield* RateLimitStore
        const rate = { intervalMillis: 60_000, burst: 1 }
        const busy = freshKey("both-busy")
        near(right(yield* limits.reserve(busy, rate, Number.POSITIVE_INFINITY)), 0)
        const idle = freshKey("both-idle")
        const [refused, notAsked] = yield* limits.reserveBoth(
          { key: busy, rate, maxWaitMillis: 1_000 },
          { key: idle, rate, maxWaitMillis: 1_000 }
        )
        assert.isTrue(Either.isLeft(refused))
        if (Either.isLeft(refused)) near(refused.left, 60_000)
        assert.isTrue(Option.isNone(notAsked))
        const fresh = freshKey("both-fresh")
        const [granted, second] = yield* limits.reserveBoth(
          { key: fresh, rate, maxWaitMillis: 1_000 },
          { key: busy, rate, maxWaitMillis: 1_000 }
        )
        near(right(granted), 0)
        const secondRefused = Option.getOrThrow(second)
        assert.isTrue(Either.isLeft(secondRefused))
        if (Either.isLeft(secondRefused)) near(secondRefused.left, 60_000)
        // Neither refusal took a slot; the granted first did.
        near(right(yield* limits.reserve(busy, rate, Number.POSITIVE_INFINITY)), 60_000)
        near(right(yield* limits.reserve(idle, rate, Number.POSITIVE_INFINITY)), 0)
        near(right(yield* limits.reserve(fresh, rate, Number.POSITIVE_INFINITY)), 60_000)
      })
    )

    it.effect("timed reservations (the limiters time theirs) take the same slots, sent no earlier than asked", () =>
      Effect.gen(function* () {
        const limits = yield* RateLimitStore
        const rate = { intervalMillis: 10_000, burst: 2 }
        const key = freshKey("timed")
        const asked = yield* Clock.currentTimeMillis
        const [batch, sentBatch] = yield* timed(limits.reserveBatch(key, rate, 3, Number.POSITIVE_INFINITY))
        const waits = Either.getOrThrow(batch)
        near(waits[0]!, 0)
        near(waits[1]!, 0)
        near(waits[2]!, 10_000)
        const [[first, second], sentBoth] = yield* timed(
          limits.reserveBoth(
            { key: freshKey("timed-first"), rate, maxWaitMillis: Number.POSITIVE_INFINITY },
            { key, rate, maxWaitMillis: Number.POSITIVE_INFINITY }
          )
        )
        near(right(first), 0)
        near(right(Option.getOrThrow(second)), 20_000)
        const answered = yield* Clock.currentTimeMillis
        for (const sent of [sentBatch, sentBoth]) {
          assert.isAtLeast(sent, asked)
          assert.isAtMost(sent, answered)
        }
        // Four slots of the key are taken, as untimed calls would have taken them.
        near(right(yield* limits.reserve(key, rate, Number.POSITIVE_INFINITY)), 30_000)
      })
    )
  })
