/**
 * What an operator lists: businesses, and each business's users, WhatsApp numbers, API keys and templates, one
 * keyset page at a time. Read-only; never a secret (numbers come without their access token, keys without their
 * digest).
 *
 * Every list is ordered by id. Ids are UUIDv7, so that is creation order, and a page boundary stays put while rows
 * are added. The cursor is base64url JSON of the last id, opaque to callers like the inbox's cursors.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import {
  type ApiKeyId,
  BusinessId,
  InvalidCursor,
  type Scope,
  type StorageError,
  type Template,
  UserId,
  WhatsAppNumberId
} from "@parley/core"
import { Context, type DateTime, Effect, Either, Encoding, Layer, Option, Schema } from "effect"
import { ApiKeyRow } from "./ApiKeys.js"
import { Timestamp } from "./internal/columns.js"
import { decodeTemplates, templateColumns } from "./internal/rows.js"
import { storage } from "./internal/storage.js"
import { Business, BusinessNotFound, User } from "./Tenancy.js"

export interface PageRequest {
  /** 1 to 200; the adapter clamps. */
  readonly limit: number
  readonly cursor?: string | undefined
}

export interface Page<A> {
  readonly items: ReadonlyArray<A>
  /** Pass as `cursor` for the next page; `None` on the last page. */
  readonly nextCursor: Option.Option<string>
}

/** A number as an operator sees it: everything but the access token. */
export interface WhatsAppNumberSummary {
  readonly id: WhatsAppNumberId
  readonly businessId: BusinessId
  readonly providerPhoneNumberId: string
  readonly displayPhoneNumber: string
  readonly wabaId: string | null
  readonly messagesPerSecond: number
  readonly createdAt: DateTime.Utc
}

/** A key as an operator sees it: its public prefix and use, never its secret or digest. */
export interface ApiKeySummary {
  readonly id: ApiKeyId
  readonly businessId: BusinessId
  readonly userId: UserId | null
  readonly name: string
  readonly shortId: string
  readonly scopes: ReadonlyArray<Scope>
  readonly createdAt: DateTime.Utc
  readonly lastUsedAt: DateTime.Utc | null
  readonly revokedAt: DateTime.Utc | null
}

export class Listing extends Context.Tag("@parley/postgres/Listing")<
  Listing,
  {
    readonly businesses: (page: PageRequest) => Effect.Effect<Page<Business>, InvalidCursor | StorageError>
    readonly users: (
      businessId: BusinessId,
      page: PageRequest
    ) => Effect.Effect<Page<User>, BusinessNotFound | InvalidCursor | StorageError>
    readonly whatsappNumbers: (
      businessId: BusinessId,
      page: PageRequest
    ) => Effect.Effect<Page<WhatsAppNumberSummary>, BusinessNotFound | InvalidCursor | StorageError>
    readonly apiKeys: (
      businessId: BusinessId,
      page: PageRequest
    ) => Effect.Effect<Page<ApiKeySummary>, BusinessNotFound | InvalidCursor | StorageError>
    readonly templates: (
      businessId: BusinessId,
      page: PageRequest
    ) => Effect.Effect<Page<Template>, BusinessNotFound | InvalidCursor | StorageError>
  }
>() {}

export const maxLimit = 200

const decodeCursorJson = Schema.decodeUnknownEither(Schema.parseJson(Schema.Tuple(Schema.UUID)))

/** The id a cursor stands after, or `InvalidCursor` for anything this module did not produce. */
export const decodeCursor = (cursor: string): Either.Either<string, InvalidCursor> => {
  const invalid = () => new InvalidCursor({ cursor: cursor.slice(0, 200) })
  return Encoding.decodeBase64UrlString(cursor).pipe(
    Either.mapLeft(invalid),
    Either.flatMap((json) => Either.mapLeft(decodeCursorJson(json), invalid)),
    Either.map(([id]) => id)
  )
}

export const encodeCursor = (id: string): string => Encoding.encodeBase64Url(JSON.stringify([id]))

const BusinessRow = Schema.Struct({ id: BusinessId, name: Schema.String, created_at: Timestamp })
const UserRow = Schema.Struct({ business_id: BusinessId, id: UserId, name: Schema.String, created_at: Timestamp })
const NumberRow = Schema.Struct({
  business_id: BusinessId,
  id: WhatsAppNumberId,
  provider_phone_number_id: Schema.String,
  display_phone_number: Schema.String,
  waba_id: Schema.NullOr(Schema.String),
  messages_per_second: Schema.Number,
  created_at: Timestamp
})
const decodeBusinesses = Schema.decodeUnknown(Schema.Array(BusinessRow))
const decodeUsers = Schema.decodeUnknown(Schema.Array(UserRow))
const decodeNumbers = Schema.decodeUnknown(Schema.Array(NumberRow))
const decodeApiKeys = Schema.decodeUnknown(Schema.Array(ApiKeyRow))

const clamp = (limit: number) => Math.min(Math.max(Math.trunc(limit), 1), maxLimit)

/** One more row than the page is read: its presence is what says there is a next page. */
const toPage = <A extends { readonly id: string }>(rows: ReadonlyArray<A>, limit: number): Page<A> => {
  const items = rows.slice(0, limit)
  const last = items[items.length - 1]
  return {
    items,
    nextCursor: rows.length > limit && last !== undefined ? Option.some(encodeCursor(last.id)) : Option.none()
  }
}

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  const after = (page: PageRequest) =>
    page.cursor === undefined
      ? Effect.succeed(sql``)
      : Effect.map(decodeCursor(page.cursor), (id) => sql`AND id > ${id}`)

  /** An empty page of a business that does not exist is a 404, not an empty list. */
  const requireBusiness = (businessId: BusinessId) =>
    Effect.flatMap(sql`SELECT 1 AS found FROM businesses WHERE id = ${businessId}`, (rows) =>
      rows.length === 0 ? Effect.fail(new BusinessNotFound({ businessId })) : Effect.void
    )

  const businesses = (page: PageRequest) =>
    Effect.gen(function* () {
      const limit = clamp(page.limit)
      const rows = yield* sql`
        SELECT id, name, created_at FROM businesses WHERE TRUE ${yield* after(page)}
        ORDER BY id LIMIT ${limit + 1}`.pipe(Effect.flatMap(decodeBusinesses))
      const result = toPage(rows, limit)
      return {
        items: result.items.map((row) => new Business({ id: row.id, name: row.name, createdAt: row.created_at }, true)),
        nextCursor: result.nextCursor
      }
    }).pipe(storage("Listing.businesses"))

  const users = (businessId: BusinessId, page: PageRequest) =>
    Effect.gen(function* () {
      const limit = clamp(page.limit)
      const condition = yield* after(page)
      yield* requireBusiness(businessId)
      const rows = yield* sql`
        SELECT business_id, id, name, created_at FROM users WHERE business_id = ${businessId} ${condition}
        ORDER BY id LIMIT ${limit + 1}`.pipe(Effect.flatMap(decodeUsers))
      const result = toPage(rows, limit)
      return {
        items: result.items.map(
          (row) =>
            new User({ id: row.id, businessId: row.business_id, name: row.name, createdAt: row.created_at }, true)
        ),
        nextCursor: result.nextCursor
      }
    }).pipe(storage("Listing.users"))

  const whatsappNumbers = (businessId: BusinessId, page: PageRequest) =>
    Effect.gen(function* () {
      const limit = clamp(page.limit)
      const condition = yield* after(page)
      yield* requireBusiness(businessId)
      // The sealed access token is not even read.
      const rows = yield* sql`
        SELECT business_id, id, provider_phone_number_id, display_phone_number, waba_id, messages_per_second, created_at
        FROM whatsapp_numbers WHERE business_id = ${businessId} ${condition}
        ORDER BY id LIMIT ${limit + 1}`.pipe(Effect.flatMap(decodeNumbers))
      const result = toPage(rows, limit)
      return {
        items: result.items.map(
          (row): WhatsAppNumberSummary => ({
            id: row.id,
            businessId: row.business_id,
            providerPhoneNumberId: row.provider_phone_number_id,
            displayPhoneNumber: row.display_phone_number,
            wabaId: row.waba_id,
            messagesPerSecond: row.messages_per_second,
            createdAt: row.created_at
          })
        ),
        nextCursor: result.nextCursor
      }
    }).pipe(storage("Listing.whatsappNumbers"))

  const apiKeys = (businessId: BusinessId, page: PageRequest) =>
    Effect.gen(function* () {
      const limit = clamp(page.limit)
      const condition = yield* after(page)
      yield* requireBusiness(businessId)
      // The secret's digest is not even read.
      const rows = yield* sql`
        SELECT business_id, id, user_id, name, short_id, scopes, created_at, last_used_at, revoked_at
        FROM api_keys WHERE business_id = ${businessId} ${condition}
        ORDER BY id LIMIT ${limit + 1}`.pipe(Effect.flatMap(decodeApiKeys))
      const result = toPage(rows, limit)
      return {
        items: result.items.map(
          (row): ApiKeySummary => ({
            id: row.id,
            businessId: row.business_id,
            userId: row.user_id,
            name: row.name,
            shortId: row.short_id,
            scopes: row.scopes,
            createdAt: row.created_at,
            lastUsedAt: row.last_used_at,
            revokedAt: row.revoked_at
          })
        ),
        nextCursor: result.nextCursor
      }
    }).pipe(storage("Listing.apiKeys"))

  const templates = (businessId: BusinessId, page: PageRequest) =>
    Effect.gen(function* () {
      const limit = clamp(page.limit)
      const condition = yield* after(page)
      yield* requireBusiness(businessId)
      const rows = yield* sql`
        SELECT ${sql.literal(templateColumns)} FROM templates WHERE business_id = ${businessId} ${condition}
        ORDER BY id LIMIT ${limit + 1}`.pipe(Effect.flatMap(decodeTemplates))
      return toPage(rows, limit)
    }).pipe(storage("Listing.templates"))

  return Listing.of({ businesses, users, whatsappNumbers, apiKeys, templates })
})

export const layer: Layer.Layer<Listing, never, SqlClient.SqlClient> = Layer.effect(Listing, make)
