/**
 * Opaque keyset cursors. A cursor is base64url JSON of the sort key of the last item a page returned; callers treat
 * it as an opaque string, so the encoding may change without breaking them.
 */
import { DateTime, Either, Encoding, Schema } from "effect"
import * as IsoTime from "./IsoTime.js"

// Years 1 to 9999: what every store and ISO 8601 without expanded years can hold. A hand-built cursor outside them
// must be refused here, as invalid, instead of failing in the database as if it were unavailable.
const earliest = DateTime.unsafeMake("0001-01-01T00:00:00Z")
const latest = DateTime.unsafeMake("9999-12-31T23:59:59.999Z")

/** Position after an item sorted by (time desc, id desc). */
export class Position extends Schema.Class<Position>("Position")({
  at: Schema.DateTimeUtc.pipe(
    Schema.filter((at) => DateTime.between(at, { minimum: earliest, maximum: latest }), {
      message: () => "must be between the years 1 and 9999"
    })
  ),
  id: Schema.UUID
}) {}

export class InvalidCursor extends Schema.TaggedError<InvalidCursor>()("InvalidCursor", {
  cursor: Schema.String
}) {
  override get message() {
    return "the cursor is not one this API returned"
  }
}

const Wire = Schema.Tuple(Schema.String, Schema.String)
const decodeWire = Schema.decodeUnknownEither(Schema.parseJson(Wire))

export const encode = (position: { readonly at: DateTime.Utc; readonly id: string }): string =>
  Encoding.encodeBase64Url(JSON.stringify([IsoTime.format(position.at), position.id]))

export const decode = (cursor: string): Either.Either<Position, InvalidCursor> => {
  const invalid = () => new InvalidCursor({ cursor: cursor.slice(0, 200) })
  return Encoding.decodeBase64UrlString(cursor).pipe(
    Either.mapLeft(invalid),
    Either.flatMap((json) => Either.mapLeft(decodeWire(json), invalid)),
    Either.flatMap(([at, id]) => Either.mapLeft(Schema.decodeUnknownEither(Position)({ at, id }), invalid))
  )
}
