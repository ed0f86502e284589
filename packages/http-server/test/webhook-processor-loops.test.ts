/**
 * The inbound worker's loops, against a stand-in processor: the first loop drains when woken (or polled); the
 * others join only a backlog (a round that was full), so deliveries that arrive together below a full round stay
 * one round, and a backlog is drained by two rounds at once.
 */
import { it } from "@effect/vitest"
import { Deferred, Duration, Effect, Layer, Option, Queue } from "effect"
import { expect } from "vitest"
import * as WebhookProcessor from "../src/WebhookProcessor.js"

/** A processor whose drains block until released, counting how many run at once. */
const standIn = Effect.gen(function* () {
  const signal = yield* Queue.sliding<void>(1)
  const backlog = yield* Queue.sliding<void>(1)
  const release = yield* Deferred.make<void>()
  const state = { running: 0, most: 0, started: 0 }
  const processor = WebhookProcessor.WebhookProcessor.of({
    wake: Queue.offer(signal, undefined).pipe(Effect.asVoid),
    drain: Effect.gen(function* () {
      state.started++
      state.running++
      state.most = Math.max(state.most, state.running)
      yield* Deferred.await(release)
      state.running--
      return 0
    }),
    replay: () => Effect.succeed(Option.none()),
    awaitWork: () => Queue.take(signal),
    awaitBacklog: Queue.take(backlog)
  })
  return { processor, state, release, backlog }
})

/** Lets the worker's fibers run as far as they can. */
const settle = Effect.forEach(Array.from({ length: 50 }), () => Effect.yieldNow(), { discard: true })

it.scoped(
  "the first loop drains alone until a round was full; then a second drains beside it",
  () =>
    Effect.gen(function* () {
      const { processor, state, release, backlog } = yield* standIn
      yield* Layer.build(
        WebhookProcessor.worker(Duration.seconds(1), 2).pipe(
          Layer.provide(Layer.succeed(WebhookProcessor.WebhookProcessor, processor))
        )
      )
      yield* settle
      expect(state).toEqual({ running: 1, most: 1, started: 1 })
      yield* Queue.offer(backlog, undefined)
      yield* settle
      expect(state).toEqual({ running: 2, most: 2, started: 2 })
      yield* Deferred.succeed(release, undefined)
      yield* settle
      expect(state.running).toBe(0)
    }),
  30_000
)

it.scoped(
  "one loop never drains twice at once, whatever the backlog says",
  () =>
    Effect.gen(function* () {
      const { processor, state, backlog } = yield* standIn
      yield* Layer.build(
        WebhookProcessor.worker(Duration.seconds(1), 1).pipe(
          Layer.provide(Layer.succeed(WebhookProcessor.WebhookProcessor, processor))
        )
      )
      yield* Queue.offer(backlog, undefined)
      yield* settle
      expect(state).toEqual({ running: 1, most: 1, started: 1 })
    }),
  30_000
)
