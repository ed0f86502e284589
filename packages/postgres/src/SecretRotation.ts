/**
 * Rotation of the secret key that seals the stored secrets (access tokens, and Twilio API key secrets): a check that the configured keys open every
 * stored token (the service runs it at start, so a wrong key is a configuration error, not a failed send), and a
 * re-seal of every token under the current key, after which the previous keys can be retired.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { StorageError } from "@parley/core"
import { Context, Effect, Layer, Schema } from "effect"
import { storage } from "./internal/storage.js"
import { apiKeySecretContext, tokenContext } from "./internal/whatsappNumbers.js"
import { Secrets } from "./Secrets.js"

/** Stored tokens that none of the configured keys opens. Nothing is changed when this is the answer. */
export class AccessTokensUnreadable extends Schema.TaggedError<AccessTokensUnreadable>()("AccessTokensUnreadable", {
  unreadable: Schema.Number,
  total: Schema.Number
}) {
  override get message() {
    return (
      `${this.unreadable} of ${this.total} stored WhatsApp access tokens cannot be opened with the configured ` +
      "secret keys (the current key and the previous keys)"
    )
  }
}

/** How the stored tokens stand against the configured keys. */
export interface KeyReport {
  readonly total: number
  /** Sealed under the current key. */
  readonly current: number
  /** Opened with a previous key: re-seal them before retiring that key. */
  readonly previous: number
  /** Opened by no configured key. */
  readonly unreadable: number
}

export interface ResealResult {
  readonly total: number
  /** Re-sealed now under the current key. */
  readonly resealed: number
  readonly alreadyCurrent: number
}

export class SecretRotation extends Context.Tag("@parley/postgres/SecretRotation")<
  SecretRotation,
  {
    /** Tries every stored token with the configured keys; reads only. */
    readonly check: Effect.Effect<KeyReport, StorageError>
    /**
     * Re-seals every token not sealed under the current key, in one transaction: all or nothing, so a token that
     * no key opens leaves every row as it was.
     */
    readonly reseal: Effect.Effect<ResealResult, AccessTokensUnreadable | StorageError>
  }
>() {}

const Row = Schema.Struct({
  business_id: Schema.String,
  id: Schema.String,
  access_token_sealed: Schema.String,
  provider_api_key_secret_sealed: Schema.NullOr(Schema.String)
})
const decodeRows = Schema.decodeUnknown(Schema.Array(Row))

/** One sealed value of a number row: its access token, or its Twilio API key's secret. */
interface Sealed {
  readonly row: typeof Row.Type
  readonly column: "access_token_sealed" | "provider_api_key_secret_sealed"
  readonly sealed: string
  readonly context: string
}

/** Every sealed value of the rows: a token per row, and an API key secret where there is one. */
const sealedValues = (rows: ReadonlyArray<typeof Row.Type>): ReadonlyArray<Sealed> =>
  rows.flatMap(
    (row): ReadonlyArray<Sealed> => [
      {
        row,
        column: "access_token_sealed",
        sealed: row.access_token_sealed,
        context: tokenContext(row.business_id, row.id)
      },
      ...(row.provider_api_key_secret_sealed === null
        ? []
        : [
            {
              row,
              column: "provider_api_key_secret_sealed" as const,
              sealed: row.provider_api_key_secret_sealed,
              context: apiKeySecretContext(row.business_id, row.id)
            }
          ])
    ]
  )

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const secrets = yield* Secrets

  const opens = (value: Sealed) =>
    secrets.open(value.sealed, value.context).pipe(
      Effect.as(true),
      Effect.orElseSucceed(() => false)
    )

  const check = Effect.gen(function* () {
    const rows = yield* sql`
      SELECT business_id, id, access_token_sealed, provider_api_key_secret_sealed FROM whatsapp_numbers`.pipe(
      Effect.flatMap(decodeRows)
    )
    const values = sealedValues(rows)
    let current = 0
    let previous = 0
    let unreadable = 0
    for (const value of values) {
      if (!(yield* opens(value))) unreadable++
      else if (secrets.isCurrent(value.sealed)) current++
      else previous++
    }
    return { total: values.length, current, previous, unreadable }
  }).pipe(storage("SecretRotation.check"))

  const reseal = sql
    .withTransaction(
      Effect.gen(function* () {
        // FOR UPDATE: a token replaced concurrently is not overwritten with the re-sealed old one.
        const rows = yield* sql`
          SELECT business_id, id, access_token_sealed, provider_api_key_secret_sealed FROM whatsapp_numbers
          ORDER BY business_id, id FOR UPDATE`.pipe(Effect.flatMap(decodeRows))
        const values = sealedValues(rows)
        const stale = values.filter((value) => !secrets.isCurrent(value.sealed))
        const opened = yield* Effect.forEach(stale, (value) =>
          secrets.open(value.sealed, value.context).pipe(
            Effect.map((secret) => ({ value, secret })),
            Effect.option
          )
        )
        const unreadable = opened.filter((o) => o._tag === "None").length
        if (unreadable > 0) return yield* new AccessTokensUnreadable({ unreadable, total: values.length })
        for (const o of opened) {
          if (o._tag === "None") continue
          const { value, secret } = o.value
          const sealed = yield* secrets.seal(secret, value.context)
          yield* sql`
            UPDATE whatsapp_numbers SET ${sql.literal(value.column)} = ${sealed}
            WHERE business_id = ${value.row.business_id} AND id = ${value.row.id}`
        }
        return { total: values.length, resealed: stale.length, alreadyCurrent: values.length - stale.length }
      })
    )
    .pipe(storage("SecretRotation.reseal"))

  return SecretRotation.of({ check, reseal })
})

export const layer: Layer.Layer<SecretRotation, never, SqlClient.SqlClient | Secrets> = Layer.effect(
  SecretRotation,
  make
)
