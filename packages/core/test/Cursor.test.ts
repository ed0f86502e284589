import { assert, describe, it } from "@effect/vitest"
import { DateTime, Either } from "effect"
import * as Cursor from "../src/Cursor.js"

describe("Cursor", () => {
  it("round-trips a position and is URL-safe", () => {
    const position = { at: DateTime.unsafeMake("2026-01-15T09:58:00.123Z"), id: "01a213b7-84b7-7e60-b5e4-b5626adb827f" }
    const cursor = Cursor.encode(position)
    assert.match(cursor, /^[A-Za-z0-9_-]+$/)
    const decoded = Either.getOrThrow(Cursor.decode(cursor))
    assert.strictEqual(decoded.id, position.id)
    assert.isTrue(DateTime.Equivalence(decoded.at, position.at))
  })

  it("refuses anything it did not make", () => {
    for (const bad of ["", "!!!", "bm90LWpzb24", Buffer.from('["x","y"]').toString("base64url")]) {
      const result = Cursor.decode(bad)
      assert.isTrue(Either.isLeft(result) && result.left._tag === "InvalidCursor", bad)
    }
  })

  it("refuses a hand-built position outside the years 1 to 9999, which no store can hold", () => {
    const id = "01a213b7-84b7-7e60-b5e4-b5626adb827f"
    for (const at of ["+200000-01-01T00:00:00.000Z", "-000100-01-01T00:00:00.000Z", "+010000-01-01T00:00:00.000Z"]) {
      const result = Cursor.decode(Buffer.from(JSON.stringify([at, id])).toString("base64url"))
      assert.isTrue(Either.isLeft(result) && result.left._tag === "InvalidCursor", at)
    }
    for (const at of ["0001-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z"]) {
      assert.isTrue(Either.isRight(Cursor.decode(Buffer.from(JSON.stringify([at, id])).toString("base64url"))), at)
    }
  })
})
