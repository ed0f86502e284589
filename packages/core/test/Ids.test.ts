import { assert, describe, it } from "@effect/vitest"
import { Effect, FastCheck as fc, Schema, TestClock } from "effect"
import { Ids, uuidV7 } from "../src/Ids.js"

const shape = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const isUuid = Schema.is(Schema.UUID)

/** The milliseconds a UUIDv7 carries in its first 48 bits. */
const millisOf = (id: string) => Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16)

/** Clock readings to reach: the epoch, the largest 48-bit millisecond, and times around now. */
const instant = fc.oneof(
  fc.constantFrom(0, 1, 2 ** 48 - 1, Date.UTC(2026, 10, 28), Date.UTC(9999, 11, 31, 23, 59, 59, 999)),
  fc.integer({ min: 0, max: 2 ** 48 - 1 })
)

describe("uuidV7", () => {
  it.effect(
    "is a version-7, variant-10 UUID that carries the clock's milliseconds",
    () =>
      Effect.gen(function* () {
        const samples = fc.sample(instant, 300)
        for (const millis of samples) {
          yield* TestClock.setTime(millis)
          const id = yield* uuidV7.uuid
          assert.match(id, shape)
          assert.isTrue(isUuid(id), id)
          assert.strictEqual(millisOf(id), millis)
        }
      }),
    60_000
  )

  it.effect(
    "never repeats, across many refills of its random pool, and sorts by time",
    () =>
      Effect.gen(function* () {
        const ids = yield* Ids
        const seen = new Set<string>()
        let previous = ""
        // 20,000 ids: the pool refills every 409 ids; the clock moves every 1,000.
        for (let i = 0; i < 20_000; i++) {
          if (i % 1_000 === 0) yield* TestClock.setTime(1_700_000_000_000 + i)
          const id = yield* ids.uuid
          seen.add(id)
          if (i % 1_000 === 0) {
            assert.isTrue(id > previous, `${id} after ${previous}`)
            previous = id
          }
        }
        assert.strictEqual(seen.size, 20_000)
        // Every random nibble takes every value: the random part is not stuck (e.g. on a pool never refilled).
        const last = [...seen].map((id) => id.slice(-12))
        for (let position = 0; position < 12; position++) {
          assert.strictEqual(new Set(last.map((r) => r[position])).size, 16, `position ${position}`)
        }
      }).pipe(Effect.provide(Ids.layerUuidV7)),
    60_000
  )
})
