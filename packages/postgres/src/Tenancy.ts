/**
 * Administration of tenants: businesses, their users, WhatsApp numbers (with the access token sealed at rest) and
 * templates. The HTTP server's admin commands use it; the inbox itself only reads through the core's ports.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import {
  BusinessId,
  type Ids,
  Ids as IdsTag,
  nextBusinessId,
  nextTemplateId,
  nextUserId,
  nextWhatsAppNumberId,
  type ProviderApiKey,
  type ProviderName,
  type StorageError,
  Template,
  TemplateCatalog,
  UserId,
  WhatsAppNumber,
  type WhatsAppNumberId,
  WhatsAppNumberNotFound
} from "@parley/core"
import { Array as Arr, Context, DateTime, Effect, Layer, Option, type Redacted, Schema } from "effect"
import { Timestamp, toDate } from "./internal/columns.js"
import * as NumberCache from "./internal/numberCache.js"
import { constraintName, sqlState, storage } from "./internal/storage.js"
import * as Numbers from "./internal/whatsappNumbers.js"
import { Secrets } from "./Secrets.js"

export class Business extends Schema.Class<Business>("Business")({
  id: BusinessId,
  name: Schema.String,
  createdAt: Schema.DateTimeUtc
}) {}

export class User extends Schema.Class<User>("User")({
  id: UserId,
  businessId: BusinessId,
  name: Schema.String,
  createdAt: Schema.DateTimeUtc
}) {}

export class BusinessNotFound extends Schema.TaggedError<BusinessNotFound>()("BusinessNotFound", {
  businessId: Schema.String
}) {
  override get message() {
    return "business not found"
  }
}

/**
 * The provider's id of the number (Meta's phone_number_id, Twilio's sender E.164) is already registered with that
 * provider (by this business or another): webhooks could not be routed.
 */
export class WhatsAppNumberTaken extends Schema.TaggedError<WhatsAppNumberTaken>()("WhatsAppNumberTaken", {
  providerPhoneNumberId: Schema.String
}) {
  override get message() {
    return "this WhatsApp phone number id is already registered"
  }
}

export interface NewWhatsAppNumber {
  readonly businessId: BusinessId
  /** Default Meta's Cloud API. */
  readonly provider?: ProviderName | undefined
  /** Meta's `phone_number_id`, or the Twilio sender's E.164. */
  readonly providerPhoneNumberId: string
  readonly displayPhoneNumber: string
  readonly wabaId?: string | null | undefined
  /** Meta's access token, or the Twilio account's auth token. */
  readonly accessToken: Redacted.Redacted<string>
  /** Twilio's Account SID. */
  readonly providerAccountId?: string | null | undefined
  /** A Twilio API key to send with instead of the auth token; its secret is sealed like the token. */
  readonly providerApiKey?: ProviderApiKey | null | undefined
  /** Meta's standard tier (80) when absent. */
  readonly messagesPerSecond?: number | undefined
}

/** A template as an admin enters it; the catalog keeps the id of an existing (business, key). */
export type TemplateInput = Omit<Schema.Struct.Type<typeof Template.fields>, "id"> & {
  readonly id?: Template["id"] | undefined
}

export class Tenancy extends Context.Tag("@parley/postgres/Tenancy")<
  Tenancy,
  {
    readonly createBusiness: (input: {
      readonly name: string
      readonly id?: BusinessId | undefined
    }) => Effect.Effect<Business, StorageError>
    readonly findBusiness: (id: BusinessId) => Effect.Effect<Option.Option<Business>, StorageError>
    readonly createUser: (input: {
      readonly businessId: BusinessId
      readonly name: string
      readonly id?: UserId | undefined
    }) => Effect.Effect<User, BusinessNotFound | StorageError>
    readonly addWhatsAppNumber: (
      input: NewWhatsAppNumber
    ) => Effect.Effect<WhatsAppNumber, BusinessNotFound | WhatsAppNumberTaken | StorageError>
    readonly listWhatsAppNumbers: (businessId: BusinessId) => Effect.Effect<ReadonlyArray<WhatsAppNumber>, StorageError>
    /** Replaces a number's access token (Meta tokens are rotated). */
    readonly replaceAccessToken: (
      businessId: BusinessId,
      id: WhatsAppNumberId,
      accessToken: Redacted.Redacted<string>
    ) => Effect.Effect<void, WhatsAppNumberNotFound | StorageError>
    /** Sets the number's throughput (messages per second): an admin's value, or the tier Meta reports. */
    readonly setMessagesPerSecond: (
      businessId: BusinessId,
      id: WhatsAppNumberId,
      messagesPerSecond: number
    ) => Effect.Effect<WhatsAppNumber, WhatsAppNumberNotFound | StorageError>
    readonly upsertTemplate: (template: TemplateInput) => Effect.Effect<Template, BusinessNotFound | StorageError>
  }
>() {}

const BusinessRow = Schema.Struct({ id: BusinessId, name: Schema.String, created_at: Timestamp })
const decodeBusinessRows = Schema.decodeUnknown(Schema.Array(BusinessRow))
const UserRow = Schema.Struct({ business_id: BusinessId, id: UserId, name: Schema.String, created_at: Timestamp })
const decodeUserRows = Schema.decodeUnknown(Schema.Array(UserRow))

const toBusiness = (row: typeof BusinessRow.Type) =>
  new Business({ id: row.id, name: row.name, createdAt: row.created_at }, true)

/** A foreign-key violation means the business named in the input does not exist. */
const businessMissing =
  (businessId: string) =>
  (error: SqlError): Effect.Effect<never, BusinessNotFound | SqlError> =>
    sqlState(error) === "23503" ? Effect.fail(new BusinessNotFound({ businessId })) : Effect.fail(error)

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const secrets = yield* Secrets
  const ids = yield* IdsTag
  const catalog = yield* TemplateCatalog
  const mint = <A>(effect: Effect.Effect<A, never, Ids>) => Effect.provideService(effect, IdsTag, ids)

  const createBusiness = (input: { readonly name: string; readonly id?: BusinessId | undefined }) =>
    Effect.gen(function* () {
      const id = input.id ?? (yield* mint(nextBusinessId))
      const now = yield* DateTime.now
      const rows = yield* sql`
        INSERT INTO businesses (id, name, created_at) VALUES (${id}, ${input.name}, ${toDate(now)})
        RETURNING id, name, created_at`.pipe(Effect.flatMap(decodeBusinessRows))
      return toBusiness(rows[0] ?? { id, name: input.name, created_at: now })
    }).pipe(storage("Tenancy.createBusiness"))

  const findBusiness = (id: BusinessId) =>
    sql`SELECT id, name, created_at FROM businesses WHERE id = ${id}`.pipe(
      Effect.flatMap(decodeBusinessRows),
      Effect.map((rows) => Option.map(Arr.head(rows), toBusiness)),
      storage("Tenancy.findBusiness")
    )

  const createUser = (input: {
    readonly businessId: BusinessId
    readonly name: string
    readonly id?: UserId | undefined
  }) =>
    Effect.gen(function* () {
      const id = input.id ?? (yield* mint(nextUserId))
      const now = yield* DateTime.now
      const rows = yield* sql`
        INSERT INTO users (business_id, id, name, created_at)
        VALUES (${input.businessId}, ${id}, ${input.name}, ${toDate(now)})
        RETURNING business_id, id, name, created_at`.pipe(
        Effect.catchTag("SqlError", businessMissing(input.businessId)),
        Effect.flatMap(decodeUserRows)
      )
      const row = rows[0] ?? { business_id: input.businessId, id, name: input.name, created_at: now }
      return new User({ id: row.id, businessId: row.business_id, name: row.name, createdAt: row.created_at }, true)
    }).pipe(storage("Tenancy.createUser"))

  const addWhatsAppNumber = (input: NewWhatsAppNumber) =>
    Effect.gen(function* () {
      const id = yield* mint(nextWhatsAppNumberId)
      const number = new WhatsAppNumber(
        {
          id,
          businessId: input.businessId,
          provider: input.provider ?? "whatsapp_cloud",
          providerPhoneNumberId: input.providerPhoneNumberId,
          displayPhoneNumber: input.displayPhoneNumber,
          wabaId: input.wabaId ?? null,
          accessToken: input.accessToken,
          providerAccountId: input.providerAccountId ?? null,
          providerApiKey: input.providerApiKey ?? null,
          ...(input.messagesPerSecond === undefined ? {} : { messagesPerSecond: input.messagesPerSecond })
        },
        true
      )
      yield* sql.withTransaction(Numbers.insert(sql, secrets, number, { ifAbsent: false })).pipe(
        Effect.catchTag(
          "SqlError",
          (error): Effect.Effect<never, BusinessNotFound | WhatsAppNumberTaken | SqlError> => {
            const state = sqlState(error)
            if (state === "23503") return Effect.fail(new BusinessNotFound({ businessId: input.businessId }))
            if (state === "23505" && constraintName(error) !== "whatsapp_numbers_pkey") {
              return Effect.fail(new WhatsAppNumberTaken({ providerPhoneNumberId: input.providerPhoneNumberId }))
            }
            return Effect.fail(error)
          }
        )
      )
      return number
    }).pipe(storage("Tenancy.addWhatsAppNumber"))

  const listWhatsAppNumbers = (businessId: BusinessId) =>
    sql`
      SELECT ${sql.literal(Numbers.columns)} FROM whatsapp_numbers
      WHERE business_id = ${businessId} ORDER BY created_at, id`.pipe(
      Effect.flatMap(Numbers.decode(secrets, "Tenancy.listWhatsAppNumbers")),
      storage("Tenancy.listWhatsAppNumbers")
    )

  const replaceAccessToken = (businessId: BusinessId, id: WhatsAppNumberId, accessToken: Redacted.Redacted<string>) =>
    Effect.gen(function* () {
      const sealed = yield* secrets.seal(accessToken, Numbers.tokenContext(businessId, id))
      const rows = yield* sql`
        UPDATE whatsapp_numbers SET access_token_sealed = ${sealed}
        WHERE business_id = ${businessId} AND id = ${id}
        RETURNING id`
      if (rows.length === 0) return yield* new WhatsAppNumberNotFound({ whatsappNumberId: id })
      // Committed (one statement): this process's sends use the new token from now on.
      yield* NumberCache.invalidate(sql)
    }).pipe(storage("Tenancy.replaceAccessToken"))

  const setMessagesPerSecond = (businessId: BusinessId, id: WhatsAppNumberId, messagesPerSecond: number) =>
    Effect.gen(function* () {
      const updated = yield* sql`
        UPDATE whatsapp_numbers SET messages_per_second = ${messagesPerSecond}
        WHERE business_id = ${businessId} AND id = ${id}
        RETURNING ${sql.literal(Numbers.columns)}`.pipe(
        Effect.flatMap(Numbers.decode(secrets, "Tenancy.setMessagesPerSecond"))
      )
      const number = updated[0]
      if (number === undefined) return yield* new WhatsAppNumberNotFound({ whatsappNumberId: id })
      yield* NumberCache.invalidate(sql)
      return number
    }).pipe(storage("Tenancy.setMessagesPerSecond"))

  const upsertTemplate = (input: TemplateInput) =>
    Effect.gen(function* () {
      const exists = yield* sql`SELECT 1 AS found FROM businesses WHERE id = ${input.businessId}`
      if (exists.length === 0) return yield* new BusinessNotFound({ businessId: input.businessId })
      const id = input.id ?? (yield* mint(nextTemplateId))
      return yield* catalog.upsert(
        new Template(
          {
            id,
            businessId: input.businessId,
            key: input.key,
            name: input.name,
            language: input.language,
            category: input.category,
            status: input.status,
            parameterFormat: input.parameterFormat,
            components: input.components
          },
          true
        )
      )
    }).pipe(storage("Tenancy.upsertTemplate"))

  return Tenancy.of({
    createBusiness,
    findBusiness,
    createUser,
    addWhatsAppNumber,
    listWhatsAppNumbers,
    replaceAccessToken,
    setMessagesPerSecond,
    upsertTemplate
  })
})

export const layer: Layer.Layer<Tenancy, never, SqlClient.SqlClient | Secrets | Ids | TemplateCatalog> = Layer.effect(
  Tenancy,
  make
)
