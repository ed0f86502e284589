import { assert, describe, it } from "@effect/vitest"
import { FastCheck, Schema } from "effect"
import * as Text from "../src/Text.js"

const isStorable = Schema.is(Text.Storable)

describe("Text", () => {
  it("refuses the NUL character and lone surrogates, wherever they are", () => {
    for (const bad of ["\u0000", "a\u0000b", "\uD800", "x\uDC00", "\uDBFFz", "\uDC00\uD800"]) {
      assert.isFalse(isStorable(bad), JSON.stringify(bad))
      assert.isDefined(Text.problemOf(bad))
    }
  })

  it("accepts every well-formed string without NUL (emoji, astral characters, other controls)", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.string({ unit: "grapheme", maxLength: 64 }), (s) => {
        const clean = s.replaceAll("\u0000", "")
        assert.isTrue(isStorable(clean))
      }),
      { numRuns: 500 }
    )
    assert.isTrue(isStorable("😀 \u0001 \uFFFF 𝄞"))
  })

  it("decides exactly as well-formedness and the absence of NUL do", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.string({ unit: "binary", maxLength: 16 }), (s) => {
        const wellFormed = Buffer.from(s, "utf8").toString("utf8") === s
        assert.strictEqual(isStorable(s), wellFormed && !s.includes("\u0000"))
      }),
      { numRuns: 2000 }
    )
  })
})
