import { assert, describe, it } from "@effect/vitest"
import { Either, FastCheck, Schema } from "effect"
import * as Phone from "../src/Phone.js"

describe("Phone", () => {
  it.prop(
    "E.164 and wa_id convert both ways",
    { digits: FastCheck.stringMatching(/^[1-9]\d{7,14}$/) },
    ({ digits }) => {
      const phone = Schema.decodeSync(Phone.E164)(`+${digits}`)
      assert.strictEqual(Phone.toWaId(phone), digits)
      assert.deepStrictEqual(Phone.parseWaId(digits), Either.right(phone))
      assert.strictEqual(Schema.encodeSync(Phone.E164FromWaId)(phone), digits)
    }
  )

  it("rejects what is not E.164", () => {
    for (const bad of ["2348012345678", "+0123456789", "+1234567", "+1234567890123456", "+23480123x5678", ""]) {
      assert.isTrue(Either.isLeft(Schema.decodeUnknownEither(Phone.E164)(bad)), bad)
    }
  })

  it("masks all but the country code and the last four digits", () => {
    assert.strictEqual(Phone.mask("+2348012345678"), "+234…5678")
  })
})
