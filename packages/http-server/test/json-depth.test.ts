/**
 * The edge's one-pass nesting check agrees with the nesting JSON.parse sees, whatever the strings inside hold
 * (brackets, quotes and backslashes in strings do not count).
 */
import { FastCheck as fc } from "effect"
import { describe, expect, it } from "vitest"
import { nestsDeeperThan } from "../src/Edge.js"

const depthOf = (value: unknown): number =>
  typeof value === "object" && value !== null ? 1 + Math.max(0, ...Object.values(value).map((v) => depthOf(v))) : 0

const tricky = fc.constantFrom("[", "]", "{", "}", '"', "\\", '\\"', "\\\\", "[[{", "\u0000")

describe("nestsDeeperThan", () => {
  it("is true exactly past the value's depth", () => {
    const json = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        fc.oneof(fc.string(), tricky, fc.integer(), fc.constant(null)),
        fc.array(tie("value"), { maxLength: 3 }),
        fc.dictionary(fc.oneof(fc.string({ maxLength: 4 }), tricky), tie("value"), { maxKeys: 3 })
      )
    })).value
    fc.assert(
      fc.property(json, (value) => {
        const text = JSON.stringify(value)
        const depth = depthOf(value)
        expect(nestsDeeperThan(text, depth)).toBe(false)
        if (depth > 0) expect(nestsDeeperThan(text, depth - 1)).toBe(true)
      }),
      { numRuns: 2000 }
    )
  })

  it("stops at the limit on a 200,000-level body", () => {
    const n = 200_000
    expect(nestsDeeperThan(`${"[".repeat(n)}${"]".repeat(n)}`, 32)).toBe(true)
    expect(nestsDeeperThan(JSON.stringify({ text: "[".repeat(n) }), 32)).toBe(false)
  })
})
