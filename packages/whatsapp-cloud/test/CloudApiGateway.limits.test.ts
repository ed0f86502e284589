/**
 * The gateway's throughput and pair limiters, checked deterministically on the TestClock with an in-memory
 * HttpClient that answers like Meta and notes the clock at every request.
 */
import { HttpClient, HttpClientResponse } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { CustomerIdentity, E164, MessageId, WhatsAppNumber } from "@parley/core"
import { Clock, type Duration, Effect, Fiber, Ref, TestClock } from "effect"
import * as CloudApiGateway from "../src/CloudApiGateway.js"
import { graphErrorBody } from "../src/testing/FakeCloudApi.js"
import { number } from "./support/harness.js"
import { maxInWindow } from "./support/windows.js"

interface Seen {
  readonly at: number
  readonly to: string
}

/** A Meta-like HttpClient: answers 200 with a wamid, or the scripted Graph errors first. */
const stubClient = (seen: Ref.Ref<ReadonlyArray<Seen>>, errors: Ref.Ref<ReadonlyArray<readonly [number, string]>>) =>
  HttpClient.make((request) =>
    Effect.gen(function* () {
      const at = yield* Clock.currentTimeMillis
      const body = request.body._tag === "Uint8Array" ? JSON.parse(new TextDecoder().decode(request.body.body)) : {}
      const to = String((body as { to?: unknown }).to)
      const n = (yield* Ref.updateAndGet(seen, (all) => [...all, { at, to }])).length
      const error = yield* Ref.modify(errors, (queue) => [queue[0], queue.slice(1)] as const)
      const response =
        error === undefined
          ? new Response(
              JSON.stringify({
                messaging_product: "whatsapp",
                contacts: [{ input: to, wa_id: to.slice(1) }],
                messages: [{ id: `wamid.${n}` }]
              }),
              { status: 200, headers: { "content-type": "application/json" } }
            )
          : new Response(JSON.stringify(graphErrorBody(error[0])), {
              status: 400,
              headers: { "content-type": "application/json", "retry-after": error[1] }
            })
      return HttpClientResponse.fromWeb(request, response)
    })
  )

const setup = (
  options: CloudApiGateway.Options,
  errors: ReadonlyArray<readonly [number, string]> = [],
  from: WhatsAppNumber = number
) =>
  Effect.gen(function* () {
    const seen = yield* Ref.make<ReadonlyArray<Seen>>([])
    const scripted = yield* Ref.make(errors)
    const gateway = yield* CloudApiGateway.make(options).pipe(
      Effect.provideService(HttpClient.HttpClient, stubClient(seen, scripted))
    )
    const send = (i: number, phone: string) =>
      gateway.sendText({
        from,
        to: CustomerIdentity.byPhone(E164.make(phone)),
        messageId: MessageId.make(`00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`),
        text: `message ${i}`
      })
    return { seen, send }
  })

const recipient = (i: number) => `+1555${(1_000_000 + i).toString()}`

/** Steps the TestClock so sleeping sends wake in order. */
const runClock = (steps: number, step: Duration.DurationInput = "50 millis") =>
  Effect.gen(function* () {
    for (let s = 0; s < steps; s++) yield* TestClock.adjust(step)
  })

describe("CloudApiGateway limits", () => {
  it.effect("never sends more than messagesPerSecond in any second; the rest wait their turn", () =>
    Effect.gen(function* () {
      const { seen, send } = yield* setup({ messagesPerSecond: 10, pairRate: false })
      const fibers = yield* Effect.forEach(
        Array.from({ length: 35 }, (_, i) => i),
        (i) => Effect.fork(send(i, recipient(i)))
      )
      yield* runClock(8, "500 millis")
      const accepted = yield* Fiber.joinAll(fibers)
      const times = (yield* Ref.get(seen)).map((s) => s.at)
      assert.strictEqual(accepted.length, 35)
      assert.strictEqual(times.length, 35)
      assert.isAtMost(maxInWindow(times, 1000), 10)
      // Evenly spaced, 100 ms apart: the 35th leaves at 3.4 s.
      assert.deepStrictEqual(
        [...times].sort((a, b) => a - b),
        Array.from({ length: 35 }, (_, i) => i * 100)
      )
    })
  )

  it.effect("a number at Meta's standard tier sends 80 messages per second; no ceiling above 1000 is accepted", () =>
    Effect.gen(function* () {
      assert.strictEqual(number.messagesPerSecond, 80)
      assert.strictEqual(CloudApiGateway.settings().messagesPerSecond, 1000)
      assert.strictEqual(CloudApiGateway.settings({ messagesPerSecond: 5000 }).messagesPerSecond, 1000)
      const { seen, send } = yield* setup({ pairRate: false })
      const fibers = yield* Effect.forEach(
        Array.from({ length: 200 }, (_, i) => i),
        (i) => Effect.fork(send(i, recipient(i)))
      )
      yield* runClock(6, "500 millis")
      yield* Fiber.joinAll(fibers)
      const times = (yield* Ref.get(seen)).map((s) => s.at)
      assert.strictEqual(maxInWindow(times, 1000), 80)
      assert.strictEqual(Math.max(...times), 199 * 12.5)
    })
  )

  it.effect("a number Meta upgraded sends beyond the standard tier, spaced by its own rate", () =>
    Effect.gen(function* () {
      const upgraded = new WhatsAppNumber({ ...number, messagesPerSecond: 1000 })
      const { seen, send } = yield* setup({ pairRate: false }, [], upgraded)
      const fibers = yield* Effect.forEach(
        Array.from({ length: 1200 }, (_, i) => i),
        (i) => Effect.fork(send(i, recipient(i)))
      )
      yield* runClock(6, "500 millis")
      yield* Fiber.joinAll(fibers)
      const times = (yield* Ref.get(seen)).map((s) => s.at)
      assert.strictEqual(times.length, 1200)
      assert.strictEqual(maxInWindow(times, 1000), 1000)
      assert.strictEqual(Math.max(...times), 1199)
    })
  )

  it.effect("the gateway's ceiling holds a number below its own rate", () =>
    Effect.gen(function* () {
      const upgraded = new WhatsAppNumber({ ...number, messagesPerSecond: 1000 })
      const { seen, send } = yield* setup({ messagesPerSecond: 100, pairRate: false }, [], upgraded)
      const fibers = yield* Effect.forEach(
        Array.from({ length: 300 }, (_, i) => i),
        (i) => Effect.fork(send(i, recipient(i)))
      )
      yield* runClock(8, "500 millis")
      yield* Fiber.joinAll(fibers)
      const times = (yield* Ref.get(seen)).map((s) => s.at)
      assert.strictEqual(maxInWindow(times, 1000), 100)
      assert.strictEqual(Math.max(...times), 2990)
    })
  )

  it.effect("the pair limiter spaces messages to one recipient after the burst, others go at once", () =>
    Effect.gen(function* () {
      const { seen, send } = yield* setup({ pairRate: { burst: 2, every: "6 seconds" }, maxQueueWait: "1 minute" })
      const fibers = yield* Effect.forEach([0, 1, 2, 3, 4], (i) => Effect.fork(send(i, "+15550001111")))
      const other = yield* Effect.fork(send(9, "+15550009999"))
      yield* runClock(20, "1 second")
      yield* Fiber.joinAll([...fibers, other])
      const all = yield* Ref.get(seen)
      assert.deepStrictEqual(
        all.filter((s) => s.to === "+15550001111").map((s) => s.at),
        // The number's spacing (1/80 s) separates the two of the burst.
        [0, 12.5, 6000, 12000, 18000]
      )
      assert.isTrue(all.filter((s) => s.to === "+15550009999").every((s) => s.at < 100))
    })
  )

  it.effect("Meta's default pair allowance is a burst of 45, then one per 6 seconds", () =>
    Effect.gen(function* () {
      const { seen, send } = yield* setup({ maxQueueWait: "1 minute" })
      const fibers = yield* Effect.forEach(
        Array.from({ length: 47 }, (_, i) => i),
        (i) => Effect.fork(send(i, "+15550001111"))
      )
      yield* runClock(14, "1 second")
      yield* Fiber.joinAll(fibers)
      const times = (yield* Ref.get(seen)).map((s) => s.at).sort((a, b) => a - b)
      assert.deepStrictEqual(
        times.slice(0, 45),
        Array.from({ length: 45 }, (_, i) => i * 12.5)
      )
      assert.deepStrictEqual(times.slice(45), [6000, 12000])
    })
  )

  it.effect("a send whose turn is beyond maxQueueWait fails with ProviderRateLimited and is never sent", () =>
    Effect.gen(function* () {
      const { seen, send } = yield* setup({ pairRate: { burst: 1, every: "6 seconds" }, maxQueueWait: "5 seconds" })
      yield* send(0, "+15550001111")
      const error = yield* Effect.flip(send(1, "+15550001111"))
      assert.deepStrictEqual(error._tag === "ProviderRateLimited" ? [error.code, error.retryAfterSeconds] : [], [
        null,
        6
      ])
      assert.strictEqual((yield* Ref.get(seen)).length, 1)
    })
  )

  it.effect("Meta's 130429 slows the whole number down until its reset", () =>
    Effect.gen(function* () {
      const { seen, send } = yield* setup({ pairRate: false }, [[130429, "2"]])
      const first = yield* Effect.fork(send(0, recipient(0)))
      yield* TestClock.adjust("10 millis")
      const others = yield* Effect.forEach([1, 2, 3], (i) => Effect.fork(send(i, recipient(i))))
      yield* runClock(12, "250 millis")
      yield* Fiber.joinAll([first, ...others])
      const times = (yield* Ref.get(seen)).map((s) => s.at)
      assert.deepStrictEqual(times[0], 0)
      assert.isTrue(
        times.slice(1).every((t) => t >= 2000),
        `after the throttle: ${times.join(", ")}`
      )
      assert.strictEqual(times.length, 5)
    })
  )

  it.effect("Meta's 131056 holds only that recipient", () =>
    Effect.gen(function* () {
      const { seen, send } = yield* setup({ maxQueueWait: "1 minute" }, [[131056, "4"]])
      const first = yield* Effect.fork(send(0, "+15550001111"))
      yield* TestClock.adjust("10 millis")
      const same = yield* Effect.fork(send(1, "+15550001111"))
      const other = yield* Effect.fork(send(2, "+15550009999"))
      yield* runClock(12, "500 millis")
      yield* Fiber.joinAll([first, same, other])
      const all = yield* Ref.get(seen)
      assert.isTrue(
        all
          .filter((s) => s.to === "+15550001111")
          .slice(1)
          .every((s) => s.at >= 4000)
      )
      assert.isTrue(all.filter((s) => s.to === "+15550009999").every((s) => s.at < 1000))
    })
  )
})
