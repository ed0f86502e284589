/**
 * Phone numbers: Parley's E.164 form (`+` then 8–15 digits) and Meta's `wa_id` (the same digits, no `+`).
 */
import { Either, ParseResult, Schema } from "effect"

/** A phone number in E.164: `+`, a non-zero country code digit, 8–15 digits in all. */
export const E164 = Schema.String.pipe(
  Schema.pattern(/^\+[1-9]\d{7,14}$/, {
    message: () => "expected a phone number in E.164 form: + followed by 8 to 15 digits, e.g. +2348012345678"
  }),
  Schema.brand("E164")
)
export type E164 = typeof E164.Type

/** Meta's WhatsApp user id for a phone-addressed user: the E.164 digits without `+`. */
export const WaId = Schema.String.pipe(Schema.pattern(/^[1-9]\d{7,14}$/), Schema.brand("WaId"))
export type WaId = typeof WaId.Type

export const toWaId = (phone: E164): WaId => WaId.make(phone.slice(1), { disableValidation: true })

export const fromWaId = (waId: WaId): E164 => E164.make(`+${waId}`, { disableValidation: true })

/** Decodes a `wa_id` string as Meta sends it into E.164; `Left` when it is not a phone-shaped id. */
export const parseWaId = (raw: string): Either.Either<E164, string> =>
  Schema.decodeUnknownEither(WaId)(raw).pipe(
    Either.map(fromWaId),
    Either.mapLeft(() => `not a wa_id: expected 8 to 15 digits`)
  )

/** E.164 ⇄ wa_id as a schema: decodes Meta's digits into our E.164 form. */
export const E164FromWaId = Schema.transformOrFail(Schema.String, E164, {
  strict: true,
  decode: (raw, _, ast) =>
    Either.match(parseWaId(raw), {
      onLeft: (message) => ParseResult.fail(new ParseResult.Type(ast, raw, message)),
      onRight: ParseResult.succeed
    }),
  encode: (phone) => ParseResult.succeed(phone.slice(1))
})

/** The digits of a phone number, for digit-substring search. */
export const digits = (input: string): string => input.replace(/\D+/g, "")

/** `+2348012345678` → `+234…5678`: what logs may show of a customer's number. */
export const mask = (phone: string): string =>
  phone.length <= 8 ? "…" : `${phone.slice(0, phone.startsWith("+") ? 4 : 3)}…${phone.slice(-4)}`
