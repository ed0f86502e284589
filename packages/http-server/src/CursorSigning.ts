/**
 * Tamper-evident cursors. The core's cursors are plain positions (base64url JSON) so an embedder can use them as
 * is; the API hands out `<cursor>.<mac>`, the MAC an HMAC-SHA256 under a key derived from the service's secret key,
 * and takes back only cursors it signed, so an edited or forged cursor is a 400 `invalid_cursor` before the core
 * ever decodes it.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto"
import { InvalidCursor } from "@parley/core"
import { Context, Either, Layer, Option, Redacted } from "effect"

export class CursorSigning extends Context.Tag("@parley/http-server/CursorSigning")<
  CursorSigning,
  {
    /** The cursor as the API hands it out. */
    readonly sign: (cursor: string) => string
    /** The core's cursor inside a signed one; fails when the signature does not match. */
    readonly open: (signed: string) => Either.Either<string, InvalidCursor>
  }
>() {}

// 128 bits of MAC: forging one is out of reach, and the cursor stays short.
const macBytes = 16

/** Signs with `key` (raw bytes). */
export const make = (key: Uint8Array): CursorSigning["Type"] => {
  const macOf = (cursor: string) => createHmac("sha256", key).update(cursor).digest().subarray(0, macBytes)
  return {
    sign: (cursor) => `${cursor}.${macOf(cursor).toString("base64url")}`,
    open: (signed) => {
      const dot = signed.lastIndexOf(".")
      const invalid = () => Either.left(new InvalidCursor({ cursor: signed.slice(0, 200) }))
      if (dot <= 0) return invalid()
      const cursor = signed.slice(0, dot)
      // Compared as text: decoding first would accept other spellings of the same bytes (base64url's spare bits).
      const given = Buffer.from(signed.slice(dot + 1))
      const expected = Buffer.from(macOf(cursor).toString("base64url"))
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return invalid()
      return Either.right(cursor)
    }
  }
}

/**
 * The key is derived from `secret` (never used as is: the secret key also encrypts stored tokens). Without a
 * secret, a random key per process: cursors then do not survive a restart nor cross processes.
 */
export const layer = (secret: Option.Option<Redacted.Redacted<string>>): Layer.Layer<CursorSigning> =>
  Layer.sync(CursorSigning, () =>
    make(
      Option.match(secret, {
        onNone: () => randomBytes(32),
        onSome: (s) => createHmac("sha256", Redacted.value(s)).update("parley cursor signing v1").digest()
      })
    )
  )
