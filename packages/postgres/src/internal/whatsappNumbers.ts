/**
 * The SQL of WhatsApp numbers, shared by the directory, the administration service and the test seeder. The
 * access token (and a Twilio API key's secret) is sealed with `Secrets`, bound to the number's business and id.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { BusinessId, MessagesPerSecond, ProviderName, WhatsAppNumber, WhatsAppNumberId } from "@parley/core"
import { Effect, Option, Schema } from "effect"
import type { Secrets } from "../Secrets.js"
import { storageFailure } from "./storage.js"

export const columns =
  "business_id, id, provider_phone_number_id, display_phone_number, waba_id, access_token_sealed, messages_per_second, " +
  "provider, provider_account_id, provider_api_key_sid, provider_api_key_secret_sealed"

const Row = Schema.Struct({
  business_id: BusinessId,
  id: WhatsAppNumberId,
  provider_phone_number_id: Schema.String,
  display_phone_number: Schema.String,
  waba_id: Schema.NullOr(Schema.String),
  access_token_sealed: Schema.String,
  messages_per_second: MessagesPerSecond,
  provider: ProviderName,
  provider_account_id: Schema.NullOr(Schema.String),
  provider_api_key_sid: Schema.NullOr(Schema.String),
  provider_api_key_secret_sealed: Schema.NullOr(Schema.String)
})
const decodeRows = Schema.decodeUnknown(Schema.Array(Row))

/** What the sealed token is bound to: moving it to another row makes it fail to open. */
export const tokenContext = (businessId: string, id: string) => `whatsapp_numbers:${businessId}:${id}`

/** What a sealed API key secret is bound to: its row, and its column (it cannot pass for the access token). */
export const apiKeySecretContext = (businessId: string, id: string) => `whatsapp_numbers:${businessId}:${id}:api_key`

export const decode = (secrets: Secrets["Type"], operation: string) => (rows: ReadonlyArray<unknown>) =>
  decodeRows(rows).pipe(
    Effect.flatMap((decoded) =>
      Effect.forEach(decoded, (row) =>
        Effect.gen(function* () {
          const accessToken = yield* secrets
            .open(row.access_token_sealed, tokenContext(row.business_id, row.id))
            .pipe(
              Effect.mapError((error) => storageFailure(operation, `the access token of a number: ${error.reason}`))
            )
          const apiKeySecret =
            row.provider_api_key_sid === null || row.provider_api_key_secret_sealed === null
              ? Option.none()
              : Option.some(
                  yield* secrets
                    .open(row.provider_api_key_secret_sealed, apiKeySecretContext(row.business_id, row.id))
                    .pipe(
                      Effect.mapError((error) =>
                        storageFailure(operation, `the API key secret of a number: ${error.reason}`)
                      )
                    )
                )
          return new WhatsAppNumber(
            {
              id: row.id,
              businessId: row.business_id,
              provider: row.provider,
              providerPhoneNumberId: row.provider_phone_number_id,
              displayPhoneNumber: row.display_phone_number,
              wabaId: row.waba_id,
              accessToken,
              messagesPerSecond: row.messages_per_second,
              providerAccountId: row.provider_account_id,
              providerApiKey:
                row.provider_api_key_sid === null || Option.isNone(apiKeySecret)
                  ? null
                  : { sid: row.provider_api_key_sid, secret: apiKeySecret.value }
            },
            true
          )
        })
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
    const apiKey = number.providerApiKey
    const apiKeySecret =
      apiKey === null ? null : yield* secrets.seal(apiKey.secret, apiKeySecretContext(number.businessId, number.id))
    const conflict = options.ifAbsent ? sql`ON CONFLICT DO NOTHING` : sql``
    const inserted = yield* sql`
      INSERT INTO whatsapp_numbers (${sql.literal(columns)})
      VALUES (
        ${number.businessId}, ${number.id}, ${number.providerPhoneNumberId}, ${number.displayPhoneNumber},
        ${number.wabaId}, ${sealed}, ${number.messagesPerSecond}, ${number.provider}, ${number.providerAccountId},
        ${apiKey?.sid ?? null}, ${apiKeySecret}
      )
      ${conflict}
      RETURNING id`
    if (inserted.length === 0) return false
    yield* sql`
      INSERT INTO whatsapp_number_routes (provider, provider_phone_number_id, business_id, whatsapp_number_id)
      VALUES (${number.provider}, ${number.providerPhoneNumberId}, ${number.businessId}, ${number.id})`
    return true
  })
