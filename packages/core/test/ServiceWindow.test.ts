import { assert, describe, it } from "@effect/vitest"
import { DateTime, FastCheck, Option } from "effect"
import * as ServiceWindow from "../src/ServiceWindow.js"

const day = 86_400_000
const base = DateTime.unsafeMake("2026-01-15T10:00:00.000Z")
const plus = (ms: number) => DateTime.add(base, { millis: ms })

describe("ServiceWindow", () => {
  it.prop(
    "is open exactly while the last inbound is under 24 h old",
    { ageMs: FastCheck.integer({ min: -day, max: 3 * day }) },
    ({ ageMs }) => {
      const now = plus(ageMs)
      assert.strictEqual(ServiceWindow.isOpen(Option.some(base), now), ageMs < day)
      assert.strictEqual(Option.isSome(ServiceWindow.openUntil(Option.some(base), now)), ageMs < day)
    }
  )

  it("is closed at exactly 24 hours, open one millisecond before", () => {
    assert.isFalse(ServiceWindow.isOpen(Option.some(base), plus(day)))
    assert.isTrue(ServiceWindow.isOpen(Option.some(base), plus(day - 1)))
  })

  it("is closed for a customer who never wrote", () => {
    assert.isFalse(ServiceWindow.isOpen(Option.none(), base))
    assert.isTrue(Option.isNone(ServiceWindow.openUntil(Option.none(), base)))
  })

  it("closes 24 hours after the customer's message", () => {
    assert.strictEqual(DateTime.formatIso(ServiceWindow.closesAt(base)), "2026-01-16T10:00:00.000Z")
  })
})
