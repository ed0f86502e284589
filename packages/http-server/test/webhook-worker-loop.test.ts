/**
 * The delivery worker's pace, against a stand-in for the deliveries store on the test clock: a round that only read
 * events no endpoint wants waits the poll interval before the next (a busy service without endpoints must not spin
 * a round per handful of events), while a full fan-out batch (a backlog) is followed at once.
 */
import { it } from "@effect/vitest"
import { WebhookDeliveries } from "@parley/postgres"
import { Duration, Effect, Layer, TestClock } from "effect"
import { expect } from "vitest"
import * as WebhookWorker from "../src/WebhookWorker.js"

/** A store whose fan-out always reads `eventsPerRound` events and whose claims find nothing due. */
const store = (eventsPerRound: number, rounds: { count: number }) =>
  Layer.succeed(
    WebhookDeliveries.WebhookDeliveries,
    WebhookDeliveries.WebhookDeliveries.of({
      fanOut: () =>
        Effect.sync(() => {
          rounds.count++
          return eventsPerRound
        }),
      claim: () => Effect.succeed([]),
      record: () => Effect.die("not expected"),
      recordSucceeded: () => Effect.succeed(0),
      list: () => Effect.die("not expected"),
      replay: () => Effect.die("not expected"),
      purgeFinal: () => Effect.die("not expected")
    })
  )

const options = { allowPrivateTargets: true, allowHttp: true, batchSize: 2, pollInterval: Duration.seconds(1) }

/** Lets the worker's fiber run as far as it can without the clock moving. */
const settle = Effect.forEach(Array.from({ length: 50 }), () => Effect.yieldNow(), { discard: true })

it.scoped(
  "events that matched no endpoint are not work: the next round waits the poll interval",
  () =>
    Effect.gen(function* () {
      const rounds = { count: 0 }
      yield* Layer.build(WebhookWorker.layer(options).pipe(Layer.provide(store(3, rounds))))
      yield* settle
      expect(rounds.count).toBe(1)
      yield* TestClock.adjust(Duration.seconds(1))
      yield* settle
      expect(rounds.count).toBe(2)
    }),
  30_000
)

it.scoped(
  "a full fan-out batch is followed at once: more events may be waiting",
  () =>
    Effect.gen(function* () {
      const rounds = { count: 0 }
      // batchSize 2: a fan-out reads at most 10 events.
      yield* Layer.build(WebhookWorker.layer(options).pipe(Layer.provide(store(10, rounds))))
      yield* settle
      expect(rounds.count).toBeGreaterThan(3)
    }),
  30_000
)
