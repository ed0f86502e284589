import { assert, describe, it } from "@effect/vitest"
import { DateTime, FastCheck as fc } from "effect"
import * as IsoTime from "../src/IsoTime.js"

const day = 86_400_000
/** 0000-01-01 and 10000-01-01, the bounds of the arithmetic path. */

const beyond = 253_402_300_800_000

/** Instants near the edges where a calendar computation goes wrong: day, month, year and century ends, leap days. */
const edges = fc.oneof(
  fc.constantFrom(
    0,
    -1,
    1,
    Date.UTC(2000, 1, 29, 23, 59, 59, 999),
    Date.UTC(1900, 1, 28, 23, 59, 59, 999),
    Date.UTC(1900, 2, 1),
    Date.UTC(2100, 1, 28, 12),
    Date.UTC(2024, 1, 29),
    Date.UTC(2024, 11, 31, 23, 59, 59, 999),
    Date.UTC(9999, 11, 31, 23, 59, 59, 999),
    new Date("0000-01-01T00:00:00.000Z").getTime(),
    new Date("0000-02-29T00:00:00.000Z").getTime(),
    new Date("0001-01-01T00:00:00.000Z").getTime(),
    beyond,
    beyond - 1,
    -8.64e15,
    8.64e15
  ),
  // The last and first millisecond of a random day.
  fc.integer({ min: -800_000, max: 2_900_000 }).chain((d) => fc.constantFrom(d * day - 1, d * day, d * day + 1))
)

const anyInstant = fc.oneof(edges, fc.integer({ min: -8.64e15, max: 8.64e15 }), fc.integer({ min: 0, max: 4e12 }))

describe("IsoTime", () => {
  it("writes what Date.prototype.toISOString writes, for every instant a Date holds", () => {
    fc.assert(
      fc.property(anyInstant, (millis) => {
        assert.strictEqual(IsoTime.fromEpochMillis(millis), new Date(millis).toISOString())
      }),
      { numRuns: 20_000 }
    )
  })

  it("reads back as the same instant and sorts as the instants do, in the years 0000 to 9999", () => {
    const inRange = fc.integer({ min: new Date("0000-01-01T00:00:00.000Z").getTime(), max: beyond - 1 })
    fc.assert(
      fc.property(inRange, inRange, (a, b) => {
        const [x, y] = [IsoTime.fromEpochMillis(a), IsoTime.fromEpochMillis(b)]
        assert.strictEqual(x.length, 24)
        assert.strictEqual(Date.parse(x), a)
        assert.strictEqual(Math.sign(x.localeCompare(y, "en")), Math.sign(a - b))
      }),
      { numRuns: 5_000 }
    )
  })

  it("formats a DateTime as DateTime.formatIso does", () => {
    fc.assert(
      fc.property(fc.integer({ min: new Date("0001-01-01T00:00:00.000Z").getTime(), max: beyond - 1 }), (millis) => {
        const time = DateTime.unsafeMake(millis)
        assert.strictEqual(IsoTime.format(time), DateTime.formatIso(time))
      })
    )
    assert.isNull(IsoTime.formatOrNull(null))
  })

  it("leaves fractional and non-finite inputs to Date, which throws for them as it always did", () => {
    assert.strictEqual(IsoTime.fromEpochMillis(1.5), new Date(1.5).toISOString())
    assert.throws(() => IsoTime.fromEpochMillis(Number.NaN), RangeError)
  })
})
