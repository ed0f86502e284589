/**
 * The endpoints a business registers for outbound webhooks. Each has a signing secret (`whsec_` + base64 of 32
 * random bytes, the Standard Webhooks form) shown once, at creation and at rotation, and sealed at rest with
 * `Secrets`. A rotation keeps the previous secret until its overlap ends, so deliveries in flight are signed with
 * both and a receiver never refuses one while it switches keys.
 */
import { randomBytes } from "node:crypto"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { BusinessId, Ids, type StorageError } from "@parley/core"
import { Context, DateTime, Duration, Effect, Layer, Option, Redacted, Schema } from "effect"
import { Timestamp, toDate } from "./internal/columns.js"
import { sqlState, storage } from "./internal/storage.js"
import { Secrets } from "./Secrets.js"

export const WebhookEndpointId = Schema.UUID.pipe(Schema.brand("WebhookEndpointId"))
export type WebhookEndpointId = typeof WebhookEndpointId.Type

export class WebhookEndpoint extends Schema.Class<WebhookEndpoint>("WebhookEndpoint")({
  id: WebhookEndpointId,
  businessId: BusinessId,
  url: Schema.String,
  /** The event types delivered; empty means every type. */
  eventTypes: Schema.Array(Schema.String),
  description: Schema.String,
  enabled: Schema.Boolean,
  /** Why the endpoint stopped receiving deliveries (`gone`: it answered 410; `failing`: the circuit opened). */
  disabledReason: Schema.NullOr(Schema.String),
  disabledAt: Schema.NullOr(Schema.DateTimeUtc),
  /** The start of the current run of failed attempts, if the last attempt failed. */
  failingSince: Schema.NullOr(Schema.DateTimeUtc),
  /** While set, deliveries are signed with the previous secret too. */
  previousSecretExpiresAt: Schema.NullOr(Schema.DateTimeUtc),
  createdAt: Schema.DateTimeUtc
}) {}

/** A new or rotated secret: `secret` is the only time it exists outside the sealed column. */
export interface WithSecret {
  readonly endpoint: WebhookEndpoint
  readonly secret: Redacted.Redacted<string>
}

export class WebhookEndpointNotFound extends Schema.TaggedError<WebhookEndpointNotFound>()("WebhookEndpointNotFound", {
  endpointId: Schema.String
}) {
  override get message() {
    return "webhook endpoint not found"
  }
}

export class WebhookEndpointOwnerNotFound extends Schema.TaggedError<WebhookEndpointOwnerNotFound>()(
  "WebhookEndpointOwnerNotFound",
  { businessId: Schema.String }
) {
  override get message() {
    return "the business of the webhook endpoint does not exist"
  }
}

export interface EndpointInput {
  readonly url: string
  readonly eventTypes: ReadonlyArray<string>
  readonly description?: string | undefined
}

export interface EndpointChanges {
  readonly url?: string | undefined
  readonly eventTypes?: ReadonlyArray<string> | undefined
  readonly description?: string | undefined
  /** `true` re-enables (clearing the reason and the failure run); `false` disables with reason `manual`. */
  readonly enabled?: boolean | undefined
}

export class WebhookEndpoints extends Context.Tag("@parley/postgres/WebhookEndpoints")<
  WebhookEndpoints,
  {
    readonly create: (
      businessId: BusinessId,
      input: EndpointInput
    ) => Effect.Effect<WithSecret, WebhookEndpointOwnerNotFound | StorageError>
    readonly list: (businessId: BusinessId) => Effect.Effect<ReadonlyArray<WebhookEndpoint>, StorageError>
    readonly get: (
      businessId: BusinessId,
      id: string
    ) => Effect.Effect<WebhookEndpoint, WebhookEndpointNotFound | StorageError>
    readonly update: (
      businessId: BusinessId,
      id: string,
      changes: EndpointChanges
    ) => Effect.Effect<WebhookEndpoint, WebhookEndpointNotFound | StorageError>
    readonly remove: (businessId: BusinessId, id: string) => Effect.Effect<void, WebhookEndpointNotFound | StorageError>
    /** A new current secret; the old one keeps signing for `overlap` (zero: retired at once). */
    readonly rotateSecret: (
      businessId: BusinessId,
      id: string,
      overlap: Duration.DurationInput
    ) => Effect.Effect<WithSecret, WebhookEndpointNotFound | StorageError>
    /** Stops deliveries to the endpoint and records why; pending deliveries wait for a re-enable. */
    readonly disable: (
      businessId: BusinessId,
      id: string,
      reason: string
    ) => Effect.Effect<void, WebhookEndpointNotFound | StorageError>
    /** The secrets that sign a delivery now: the current one first, then the previous one during its overlap. */
    readonly signingSecrets: (
      businessId: BusinessId,
      id: string
    ) => Effect.Effect<ReadonlyArray<Redacted.Redacted<string>>, WebhookEndpointNotFound | StorageError>
  }
>() {}

/** `whsec_` + base64 of 32 random bytes (the spec asks for 24 to 64). */
export const generateSecret = (): Redacted.Redacted<string> =>
  Redacted.make(`whsec_${randomBytes(32).toString("base64")}`)

/** Binds a sealed secret to its row: a ciphertext copied onto another endpoint does not open. */
export const secretContext = (businessId: string, id: string) => `webhook_endpoints:${businessId}:${id}`

const columns =
  "business_id, id, url, event_types, description, enabled, disabled_reason, disabled_at, failing_since, " +
  "previous_expires_at, created_at"

const Row = Schema.Struct({
  business_id: BusinessId,
  id: WebhookEndpointId,
  url: Schema.String,
  event_types: Schema.Array(Schema.String),
  description: Schema.String,
  enabled: Schema.Boolean,
  disabled_reason: Schema.NullOr(Schema.String),
  disabled_at: Schema.NullOr(Timestamp),
  failing_since: Schema.NullOr(Timestamp),
  previous_expires_at: Schema.NullOr(Timestamp),
  created_at: Timestamp
})
const decodeRows = Schema.decodeUnknown(Schema.Array(Row))
const toEndpoint = (row: typeof Row.Type) =>
  new WebhookEndpoint(
    {
      id: row.id,
      businessId: row.business_id,
      url: row.url,
      eventTypes: row.event_types,
      description: row.description,
      enabled: row.enabled,
      disabledReason: row.disabled_reason,
      disabledAt: row.disabled_at,
      failingSince: row.failing_since,
      previousSecretExpiresAt: row.previous_expires_at,
      createdAt: row.created_at
    },
    true
  )

const SecretRow = Schema.Struct({
  secret_sealed: Schema.String,
  previous_secret_sealed: Schema.NullOr(Schema.String),
  previous_expires_at: Schema.NullOr(Timestamp)
})
const decodeSecretRows = Schema.decodeUnknown(Schema.Array(SecretRow))

/** Ids are UUIDs; anything else names no endpoint (and must not reach a uuid cast). */
const isUuid = Schema.is(Schema.UUID)

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const ids = yield* Ids
  const secrets = yield* Secrets

  const one = (id: string) => (rows: ReadonlyArray<typeof Row.Type>) =>
    Option.match(Option.fromNullable(rows[0]), {
      onNone: () => Effect.fail(new WebhookEndpointNotFound({ endpointId: id })),
      onSome: (row) => Effect.succeed(toEndpoint(row))
    })

  const create = (businessId: BusinessId, input: EndpointInput) =>
    Effect.gen(function* () {
      const id = yield* ids.uuid
      const secret = generateSecret()
      const sealed = yield* secrets.seal(secret, secretContext(businessId, id))
      const rows = yield* sql`
        INSERT INTO webhook_endpoints (business_id, id, url, event_types, description, secret_sealed)
        VALUES (${businessId}, ${id}, ${input.url}, ${Array.from(new Set(input.eventTypes))},
          ${input.description ?? ""}, ${sealed})
        RETURNING ${sql.literal(columns)}`.pipe(
        Effect.catchTag(
          "SqlError",
          (error): Effect.Effect<never, WebhookEndpointOwnerNotFound | SqlError> =>
            sqlState(error) === "23503"
              ? Effect.fail(new WebhookEndpointOwnerNotFound({ businessId }))
              : Effect.fail(error)
        ),
        Effect.flatMap(decodeRows)
      )
      const endpoint = yield* one(id)(rows).pipe(Effect.orDie)
      return { endpoint, secret }
    }).pipe(storage("WebhookEndpoints.create"))

  const list = (businessId: BusinessId) =>
    sql`SELECT ${sql.literal(columns)} FROM webhook_endpoints WHERE business_id = ${businessId}
        ORDER BY created_at, id`.pipe(
      Effect.flatMap(decodeRows),
      Effect.map((rows) => rows.map(toEndpoint)),
      storage("WebhookEndpoints.list")
    )

  const get = (businessId: BusinessId, id: string) =>
    (isUuid(id)
      ? sql`SELECT ${sql.literal(columns)} FROM webhook_endpoints WHERE business_id = ${businessId} AND id = ${id}`.pipe(
          Effect.flatMap(decodeRows)
        )
      : Effect.succeed<ReadonlyArray<typeof Row.Type>>([])
    ).pipe(Effect.flatMap(one(id)), storage("WebhookEndpoints.get"))

  const update = (businessId: BusinessId, id: string, changes: EndpointChanges) =>
    Effect.gen(function* () {
      if (!isUuid(id)) return yield* new WebhookEndpointNotFound({ endpointId: id })
      const now = toDate(yield* DateTime.now)
      const sets = [
        changes.url === undefined ? undefined : sql`url = ${changes.url}`,
        changes.eventTypes === undefined ? undefined : sql`event_types = ${Array.from(new Set(changes.eventTypes))}`,
        changes.description === undefined ? undefined : sql`description = ${changes.description}`,
        changes.enabled === true
          ? sql`enabled = true, disabled_reason = NULL, disabled_at = NULL, failing_since = NULL`
          : changes.enabled === false
            ? sql`enabled = false, disabled_reason = 'manual', disabled_at = coalesce(disabled_at, ${now})`
            : undefined,
        sql`updated_at = ${now}`
      ].filter((set) => set !== undefined)
      return yield* sql`
        UPDATE webhook_endpoints SET ${sql.csv(sets)}
        WHERE business_id = ${businessId} AND id = ${id}
        RETURNING ${sql.literal(columns)}`.pipe(Effect.flatMap(decodeRows), Effect.flatMap(one(id)))
    }).pipe(storage("WebhookEndpoints.update"))

  const remove = (businessId: BusinessId, id: string) =>
    Effect.gen(function* () {
      if (!isUuid(id)) return yield* new WebhookEndpointNotFound({ endpointId: id })
      const rows =
        yield* sql`DELETE FROM webhook_endpoints WHERE business_id = ${businessId} AND id = ${id} RETURNING id`
      if (rows.length === 0) return yield* new WebhookEndpointNotFound({ endpointId: id })
    }).pipe(storage("WebhookEndpoints.remove"))

  const rotateSecret = (businessId: BusinessId, id: string, overlap: Duration.DurationInput) =>
    Effect.gen(function* () {
      if (!isUuid(id)) return yield* new WebhookEndpointNotFound({ endpointId: id })
      const now = yield* DateTime.now
      const secret = generateSecret()
      const sealed = yield* secrets.seal(secret, secretContext(businessId, id))
      const keep = Duration.toMillis(overlap) > 0
      const expires = toDate(DateTime.addDuration(now, overlap))
      const rows = yield* sql`
        UPDATE webhook_endpoints SET
          previous_secret_sealed = ${keep ? sql`secret_sealed` : sql`NULL`},
          previous_expires_at = ${keep ? sql`${expires}::timestamptz` : sql`NULL`},
          secret_sealed = ${sealed},
          updated_at = ${toDate(now)}
        WHERE business_id = ${businessId} AND id = ${id}
        RETURNING ${sql.literal(columns)}`.pipe(Effect.flatMap(decodeRows))
      const endpoint = yield* one(id)(rows)
      return { endpoint, secret }
    }).pipe(storage("WebhookEndpoints.rotateSecret"))

  const disable = (businessId: BusinessId, id: string, reason: string) =>
    Effect.gen(function* () {
      const now = toDate(yield* DateTime.now)
      const rows = yield* sql`
        UPDATE webhook_endpoints SET enabled = false, disabled_reason = ${reason},
          disabled_at = coalesce(disabled_at, ${now}), updated_at = ${now}
        WHERE business_id = ${businessId} AND id = ${id} RETURNING id`
      if (rows.length === 0) return yield* new WebhookEndpointNotFound({ endpointId: id })
    }).pipe(storage("WebhookEndpoints.disable"))

  const signingSecrets = (businessId: BusinessId, id: string) =>
    Effect.gen(function* () {
      const now = yield* DateTime.now
      const rows = yield* sql`
        SELECT secret_sealed, previous_secret_sealed, previous_expires_at FROM webhook_endpoints
        WHERE business_id = ${businessId} AND id = ${id}`.pipe(Effect.flatMap(decodeSecretRows))
      const row = rows[0]
      if (row === undefined) return yield* new WebhookEndpointNotFound({ endpointId: id })
      const context = secretContext(businessId, id)
      const current = yield* secrets.open(row.secret_sealed, context).pipe(Effect.orDie)
      if (
        row.previous_secret_sealed === null ||
        row.previous_expires_at === null ||
        DateTime.lessThanOrEqualTo(row.previous_expires_at, now)
      ) {
        return [current]
      }
      const previous = yield* secrets.open(row.previous_secret_sealed, context).pipe(Effect.orDie)
      return [current, previous]
    }).pipe(storage("WebhookEndpoints.signingSecrets"))

  return WebhookEndpoints.of({ create, list, get, update, remove, rotateSecret, disable, signingSecrets })
})

export const layer: Layer.Layer<WebhookEndpoints, never, SqlClient.SqlClient | Ids | Secrets> = Layer.effect(
  WebhookEndpoints,
  make
)
