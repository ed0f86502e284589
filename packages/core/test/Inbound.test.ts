/**
 * The inbound timestamp rule: a provider's timestamp is kept while plausible, else replaced by the time received;
 * and receiveInbound applies it, so a message dated years ahead cannot hold a window open or pin its conversation.
 */
import { assert, describe, it } from "@effect/vitest"
import { DateTime, Duration, Effect, FastCheck, Option } from "effect"
import { CustomerIdentity } from "../src/Customer.js"
import { earliestPlausible, maxFutureSkew, plausibleTimestamp } from "../src/Inbound.js"
import * as Inbox from "../src/Inbox.js"
import { TestData } from "../src/testing/index.js"
import { actorOf, layer, setNow } from "./world.js"

const skewMs = Duration.toMillis(maxFutureSkew)
const year = 365 * 86_400_000
const received = DateTime.unsafeMake("2026-03-01T12:00:00.000Z")
const offset = (ms: number) => DateTime.add(received, { millis: ms })

describe("Inbound timestamps", () => {
  it("the skew is five minutes", () => {
    assert.strictEqual(skewMs, 5 * 60_000)
  })

  it.prop(
    "a timestamp up to the skew ahead is kept; one millisecond more and it becomes the time received",
    {
      aheadMs: FastCheck.oneof(
        FastCheck.constantFrom(0, 1, skewMs - 1, skewMs, skewMs + 1, skewMs + 2),
        FastCheck.integer({ min: -10 * year, max: 100 * year })
      )
    },
    ({ aheadMs }) => {
      const kept = plausibleTimestamp(offset(aheadMs), received)
      const plausible = aheadMs <= skewMs && !DateTime.lessThan(offset(aheadMs), earliestPlausible)
      assert.strictEqual(DateTime.toEpochMillis(kept), DateTime.toEpochMillis(plausible ? offset(aheadMs) : received))
    }
  )

  it.prop(
    "a timestamp before the floor (down to the earliest date JavaScript can hold) becomes the time received",
    {
      beforeMs: FastCheck.oneof(
        FastCheck.constantFrom(0, 1, 2),
        FastCheck.integer({ min: 0, max: DateTime.toEpochMillis(earliestPlausible) + 8_640_000_000_000_000 })
      )
    },
    ({ beforeMs }) => {
      const t = DateTime.subtract(earliestPlausible, { millis: beforeMs })
      const kept = plausibleTimestamp(t, received)
      assert.strictEqual(DateTime.toEpochMillis(kept), DateTime.toEpochMillis(beforeMs === 0 ? t : received))
    }
  )

  it.effect("receiveInbound clamps a message dated a year ahead to now: the window closes 24 hours from now", () =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const tenant = yield* TestData.seedTenant()
      const now = TestData.at(10)
      yield* setNow(now)
      const [atSkew, beyond] = yield* inbox.receiveInbound(tenant.number, [
        TestData.inboundText({
          providerMessageId: "wamid.SKEW",
          timestamp: DateTime.addDuration(now, maxFutureSkew)
        }),
        TestData.inboundText({
          providerMessageId: "wamid.FUTURE",
          timestamp: DateTime.add(now, { days: 365 }),
          customer: CustomerIdentity.byPhone(TestData.phone("15550009999"))
        })
      ])
      assert.strictEqual(atSkew?._tag, "Recorded")
      assert.strictEqual(beyond?._tag, "Recorded")
      if (atSkew?._tag !== "Recorded" || beyond?._tag !== "Recorded") return
      assert.strictEqual(
        DateTime.formatIso(atSkew.message.createdAt),
        DateTime.formatIso(DateTime.addDuration(now, maxFutureSkew))
      )
      assert.strictEqual(DateTime.formatIso(beyond.message.createdAt), DateTime.formatIso(now))
      const view = yield* inbox.getConversation(actorOf(tenant), beyond.conversation.id)
      assert.strictEqual(
        DateTime.formatIso(Option.getOrThrow(view.windowClosesAt)),
        DateTime.formatIso(DateTime.add(now, { hours: 24 }))
      )
      assert.strictEqual(DateTime.formatIso(view.conversation.lastActivityAt), DateTime.formatIso(now))
    }).pipe(Effect.provide(layer))
  )
})
