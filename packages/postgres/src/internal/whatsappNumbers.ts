/**
 * The SQL of WhatsApp numbers, shared by the directory, the administration service and the test seeder. The
 * access token is sealed with `Secrets`, bound to the number's business and id.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { BusinessId, MessagesPerSecond, WhatsAppNumber, WhatsAppNumberId } from "@parley/core"
import { Effect, Schema } from "effect"
import type { Secrets } from "../Secrets.js"
import { storageFailure } from "./storage.js"

export const columns =
  "business_id, id, provider_phone_number_id, display_phone_number, waba_id, access_token_sealed, messages_per_second"

const Row = Schema.Struct({
  business_id: BusinessId,
  id: WhatsAppNumberId,
  provider_phone_number_id: Schema.String,
  display_phone_number: Schema.String,
  waba_id: Schema.NullOr(Schema.String),
  access_token_sealed: Schema.String,
  messages_per_second: MessagesPerSecond
})
const decodeRows = Schema.decodeUnknown(Schema.Array(Row))

/** What the sealed token is bound to: moving it to another row makes it fail to open. */
export const tokenContext = (businessId: string, id: string) => `whatsapp_numbers:${businessId}:${id}`

export const decode = (secrets: Secrets["Type"], operation: string) => (rows: ReadonlyArray<unknown>) =>
  decodeRows(rows).pipe(
    Effect.flatMap((decoded) =>
      Effect.forEach(decoded, (row) =>
        secrets.open(row.access_token_sealed, tokenContext(row.business_id, row.id)).pipe(
          Effect.mapError((error) => storageFailure(operation, `the access token of a number: ${error.reason}`)),
          Effect.map(
            (accessToken) =>
              new WhatsAppNumber(
                {
                  id: row.id,
                  businessId: row.business_id,
                  providerPhoneNumberId: row.provider_phone_number_id,
                  displayPhoneNumber: row.display_phone_number,
                  wabaId: row.waba_id,
                  accessToken,
                  messagesPerSecond: row.messages_per_second
                },
                true
              )
          )
        )
      )
    )
  )

/**
 * Inserts the number and its webhook route in the caller's transaction. With `ifAbsent`, an existing number (same
 * business and id) is left as it is.
 */
export const insert = (
  sql: SqlClient.SqlClient,
  secrets: Secrets["Type"],
  number: WhatsAppNumber,
  options: { readonly ifAbsent: boolean }
) =>
  Effect.gen(function* () {
    const sealed = yield* secrets.seal(number.accessToken, tokenContext(number.businessId, number.id))
    const conflict = options.ifAbsent ? sql`ON CONFLICT DO NOTHING` : sql``
    const inserted = yield* sql`
      INSERT INTO whatsapp_numbers (${sql.literal(columns)})
      VALUES (
        ${number.businessId}, ${number.id}, ${number.providerPhoneNumberId}, ${number.displayPhoneNumber},
        ${number.wabaId}, ${sealed}, ${number.messagesPerSecond}
      )
      ${conflict}
      RETURNING id`
    if (inserted.length === 0) return false
    yield* sql`
      INSERT INTO whatsapp_number_routes (provider_phone_number_id, business_id, whatsapp_number_id)
      VALUES (${number.providerPhoneNumberId}, ${number.businessId}, ${number.id})`
    return true
  })
