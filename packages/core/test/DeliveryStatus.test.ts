import { assert, describe, it } from "@effect/vitest"
import { FastCheck } from "effect"
import { advanceDeliveryStatus, type DeliveryStatus } from "../src/Message.js"

const statuses: ReadonlyArray<DeliveryStatus> = ["pending", "sent", "delivered", "read", "failed"]
const status = FastCheck.constantFrom(...statuses)

const fold = (start: DeliveryStatus, updates: ReadonlyArray<DeliveryStatus>) =>
  updates.reduce(advanceDeliveryStatus, start)

describe("delivery status", () => {
  it.prop(
    "every permutation of a set of updates, with duplicates, ends in the same status",
    {
      pair: FastCheck.array(status, { maxLength: 10 }).chain((updates) =>
        FastCheck.tuple(
          FastCheck.constant(updates),
          // Any reordering of the updates, each delivered once or twice.
          FastCheck.shuffledSubarray([...updates, ...updates], { minLength: updates.length }).filter((xs) =>
            updates.every((u) => xs.includes(u))
          )
        )
      )
    },
    ({ pair: [updates, redelivered] }) => {
      assert.strictEqual(fold("pending", redelivered), fold("pending", updates))
    }
  )

  it.prop("never moves backwards, and failed is terminal", { a: status, b: status }, ({ a, b }) => {
    const next = advanceDeliveryStatus(a, b)
    assert.include([a, b], next)
    if (a === "failed") assert.strictEqual(next, "failed")
    assert.strictEqual(advanceDeliveryStatus(next, a), next)
  })

  it("a read without delivered is legal; a late sent never downgrades", () => {
    assert.strictEqual(fold("pending", ["sent", "read", "delivered", "sent"]), "read")
  })
})
