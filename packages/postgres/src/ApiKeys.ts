/**
 * API keys: `parley_<short id>_<secret>`, shown once at creation. Only the short id (the lookup key, safe to log)
 * and the secret's SHA-256 are stored; authentication compares digests in constant time. A fast hash is enough
 * because the secret is 256 random bits, not a password: it cannot be guessed, so a slow hash would add cost and
 * no safety.
 */

import { createHash, randomBytes, timingSafeEqual } from "node:crypto"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { PgClient } from "@effect/sql-pg"
import {
  type Actor,
  ApiKeyId,
  BusinessId,
  Ids,
  makeActor,
  nextApiKeyId,
  Scope,
  type StorageError,
  UserId
} from "@parley/core"
import { Context, DateTime, Effect, Layer, Option, Redacted, Schema } from "effect"
import { Bytes, json, Timestamp, toDate } from "./internal/columns.js"
import * as KeyCache from "./internal/keyCache.js"
import { sqlState, storage } from "./internal/storage.js"

export class ApiKey extends Schema.Class<ApiKey>("ApiKey")({
  id: ApiKeyId,
  businessId: BusinessId,
  /** The user the key acts for (`assigned=me`), if any. */
  userId: Schema.NullOr(UserId),
  name: Schema.String,
  /** The public part of the key: shown in listings and logs, never enough to authenticate. */
  shortId: Schema.String,
  scopes: Schema.Array(Scope),
  createdAt: Schema.DateTimeUtc,
  lastUsedAt: Schema.NullOr(Schema.DateTimeUtc),
  revokedAt: Schema.NullOr(Schema.DateTimeUtc)
}) {}

/** A new key: `key` is the only time the full key exists outside its holder. */
export interface CreatedApiKey {
  readonly apiKey: ApiKey
  readonly key: Redacted.Redacted<string>
}

/** Why a presented key was refused. The HTTP layer answers 401 for all of them alike. */
export class ApiKeyRejected extends Schema.TaggedError<ApiKeyRejected>()("ApiKeyRejected", {
  reason: Schema.Literal("malformed", "unknown", "revoked", "wrong_secret")
}) {
  override get message() {
    return "the API key is not valid"
  }
}

export class ApiKeyNotFound extends Schema.TaggedError<ApiKeyNotFound>()("ApiKeyNotFound", {
  apiKeyId: Schema.String
}) {
  override get message() {
    return "API key not found"
  }
}

/** The business or user named for a new key does not exist. */
export class ApiKeyOwnerNotFound extends Schema.TaggedError<ApiKeyOwnerNotFound>()("ApiKeyOwnerNotFound", {
  businessId: Schema.String,
  userId: Schema.NullOr(Schema.String)
}) {
  override get message() {
    return "the business or user of the key does not exist"
  }
}

export class ApiKeys extends Context.Tag("@parley/postgres/ApiKeys")<
  ApiKeys,
  {
    readonly create: (input: {
      readonly businessId: BusinessId
      readonly userId?: UserId | null | undefined
      readonly name: string
      readonly scopes: Iterable<Scope>
    }) => Effect.Effect<CreatedApiKey, ApiKeyOwnerNotFound | StorageError>
    /** The key's record if it is well formed, known, unrevoked and its secret matches. */
    readonly authenticate: (key: Redacted.Redacted<string>) => Effect.Effect<ApiKey, ApiKeyRejected | StorageError>
    /** Revokes at once: the next `authenticate` with the key fails. Revoking twice is fine. */
    readonly revoke: (businessId: BusinessId, id: ApiKeyId) => Effect.Effect<void, ApiKeyNotFound | StorageError>
    readonly list: (businessId: BusinessId) => Effect.Effect<ReadonlyArray<ApiKey>, StorageError>
  }
>() {}

/** The actor a key authenticates as. */
export const toActor = (apiKey: ApiKey): Actor =>
  makeActor({ businessId: apiKey.businessId, userId: apiKey.userId, scopes: apiKey.scopes })

const prefix = "parley"
const shortIdLength = 12
const secretLength = 43
const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

/** Base62 of random bytes, fixed width: no `_` or `-`, so a double click selects the whole key. */
const randomBase62 = (bytes: number, width: number) => {
  let n = BigInt(`0x${randomBytes(bytes).toString("hex")}`)
  let out = ""
  for (let i = 0; i < width; i++) {
    out = base62[Number(n % 62n)] + out
    n /= 62n
  }
  return out
}

const keyPattern = new RegExp(`^${prefix}_([0-9A-Za-z]{${shortIdLength}})_([0-9A-Za-z]{${secretLength}})$`)

/** Splits a presented key into its short id and secret, or `undefined` when it is not shaped like one. */
export const parse = (key: string): { readonly shortId: string; readonly secret: string } | undefined => {
  const match = keyPattern.exec(key)
  return match === null ? undefined : { shortId: match[1] ?? "", secret: match[2] ?? "" }
}

const digest = (secret: string) => createHash("sha256").update(secret, "utf8").digest()

const columns = "business_id, id, user_id, name, short_id, scopes, created_at, last_used_at, revoked_at"
const keyColumns = columns
  .split(", ")
  .map((column) => `k.${column}`)
  .join(", ")

/** An `api_keys` row without its digest: the one shape every read of keys decodes (the admin list included). */
export const ApiKeyRow = Schema.Struct({
  business_id: BusinessId,
  id: ApiKeyId,
  user_id: Schema.NullOr(UserId),
  name: Schema.String,
  short_id: Schema.String,
  scopes: Schema.Array(Scope),
  created_at: Timestamp,
  last_used_at: Schema.NullOr(Timestamp),
  revoked_at: Schema.NullOr(Timestamp)
})
const toApiKey = (row: typeof ApiKeyRow.Type) =>
  new ApiKey(
    {
      id: row.id,
      businessId: row.business_id,
      userId: row.user_id,
      name: row.name,
      shortId: row.short_id,
      scopes: row.scopes,
      createdAt: row.created_at,
      lastUsedAt: row.last_used_at,
      revokedAt: row.revoked_at
    },
    true
  )
const decodeRows = Schema.decodeUnknown(Schema.Array(ApiKeyRow))
const SecretRow = Schema.Struct({ ...ApiKeyRow.fields, secret_sha256: Bytes })
const decodeSecretRows = Schema.decodeUnknown(Schema.Array(SecretRow))

/** `last_used_at` is written at most this often per key, so authentication is normally read-only. */
const lastUsedResolutionMs = 60_000

/** A digest that matches nothing, compared when the key is unknown so both paths do the same work. */
const noDigest = Buffer.alloc(32)

/** A verified, unrevoked key as the cache holds it; `lastUsedAt` moves as this process records uses. */
interface Verified {
  readonly digest: Buffer
  apiKey: ApiKey
}

/**
 * On a PostgreSQL server (a `PgClient` in context), verified keys are cached in memory and revocations reach every
 * process through LISTEN/NOTIFY before `revoke` returns (`internal/keyCache.ts`). Elsewhere (PGlite) every request
 * reads the key's row.
 */
export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const ids = yield* Ids
  const pg = yield* Effect.serviceOption(PgClient.PgClient)
  const cache: KeyCache.KeyCache<Verified> = Option.isSome(pg)
    ? yield* KeyCache.make<Verified>(pg.value, sql)
    : KeyCache.none<Verified>()

  const create = (input: {
    readonly businessId: BusinessId
    readonly userId?: UserId | null | undefined
    readonly name: string
    readonly scopes: Iterable<Scope>
  }) =>
    Effect.gen(function* () {
      const id = yield* Effect.provideService(nextApiKeyId, Ids, ids)
      const now = yield* DateTime.now
      const shortId = randomBase62(10, shortIdLength)
      const secret = randomBase62(32, secretLength)
      const scopes = Array.from(new Set(input.scopes))
      const rows = yield* sql
        .withTransaction(
          Effect.gen(function* () {
            yield* sql`
              INSERT INTO api_key_routes (short_id, business_id, api_key_id)
              VALUES (${shortId}, ${input.businessId}, ${id})`
            return yield* sql`
              INSERT INTO api_keys (business_id, id, short_id, secret_sha256, name, scopes, user_id, created_at)
              VALUES (
                ${input.businessId}, ${id}, ${shortId}, ${digest(secret)}, ${input.name}, ${json(scopes)}::jsonb,
                ${input.userId ?? null}, ${toDate(now)}
              )
              RETURNING ${sql.literal(columns)}`
          })
        )
        .pipe(
          Effect.catchTag(
            "SqlError",
            (error): Effect.Effect<never, ApiKeyOwnerNotFound | SqlError> =>
              sqlState(error) === "23503"
                ? Effect.fail(new ApiKeyOwnerNotFound({ businessId: input.businessId, userId: input.userId ?? null }))
                : Effect.fail(error)
          ),
          Effect.flatMap(decodeRows)
        )
      const apiKey = rows[0]
      if (apiKey === undefined) return yield* Effect.die("the insert returned no row")
      return { apiKey: toApiKey(apiKey), key: Redacted.make(`${prefix}_${shortId}_${secret}`) }
    }).pipe(storage("ApiKeys.create"))

  /**
   * Records a use at most once a minute per key (per process, when the key is cached), so authentication is
   * normally read-only. The entry moves first, so concurrent requests do not all write.
   */
  const touch = (verified: Verified, now: DateTime.Utc) => {
    const last = verified.apiKey.lastUsedAt
    if (last !== null && now.epochMillis - last.epochMillis < lastUsedResolutionMs)
      return Effect.succeed(verified.apiKey)
    const apiKey = new ApiKey({ ...verified.apiKey, lastUsedAt: now }, true)
    verified.apiKey = apiKey
    return Effect.as(
      sql`
        UPDATE api_keys SET last_used_at = ${toDate(now)}
        WHERE business_id = ${apiKey.businessId} AND id = ${apiKey.id}
          AND (last_used_at IS NULL OR last_used_at < ${toDate(now)})`,
      apiKey
    )
  }

  const authenticate = (key: Redacted.Redacted<string>) =>
    Effect.gen(function* () {
      const parts = parse(Redacted.value(key))
      if (parts === undefined) return yield* new ApiKeyRejected({ reason: "malformed" })
      const presented = digest(parts.secret)
      const now = yield* DateTime.now
      const cached = cache.get(parts.shortId)
      if (cached !== undefined) {
        if (!timingSafeEqual(cached.digest, presented)) return yield* new ApiKeyRejected({ reason: "wrong_secret" })
        return yield* touch(cached, now)
      }
      const ticket = cache.ticket()
      // Route, then the key within its business: two primary-key reads, joined into one statement since this runs
      // before every API request that misses the cache, and a round trip costs more than either lookup.
      const rows = yield* sql`
        SELECT ${sql.literal(keyColumns)}, k.secret_sha256
        FROM api_key_routes r JOIN api_keys k ON k.business_id = r.business_id AND k.id = r.api_key_id
        WHERE r.short_id = ${parts.shortId}`.pipe(Effect.flatMap(decodeSecretRows))
      const row = rows[0]
      const stored = row === undefined || row.secret_sha256.length !== 32 ? noDigest : Buffer.from(row.secret_sha256)
      const matches = timingSafeEqual(stored, presented)
      if (row === undefined) return yield* new ApiKeyRejected({ reason: "unknown" })
      if (!matches) return yield* new ApiKeyRejected({ reason: "wrong_secret" })
      if (row.revoked_at !== null) return yield* new ApiKeyRejected({ reason: "revoked" })
      const verified: Verified = { digest: stored, apiKey: toApiKey(row) }
      const apiKey = yield* touch(verified, now)
      cache.put(parts.shortId, verified, ticket)
      return apiKey
    }).pipe(storage("ApiKeys.authenticate"))

  // The notification goes out when the statement commits; the cache waits until every process has dropped the key.
  const revoke = (businessId: BusinessId, id: ApiKeyId) =>
    Effect.gen(function* () {
      const now = yield* DateTime.now
      const rows = yield* cache.revoke(
        (payload) => sql<{ readonly short_id: string }>`
          UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ${toDate(now)})
          WHERE business_id = ${businessId} AND id = ${id}
          RETURNING short_id, pg_notify(${KeyCache.channel}, ${payload} || short_id)`,
        (rows) => rows[0]?.short_id
      )
      if (rows.length === 0) return yield* new ApiKeyNotFound({ apiKeyId: id })
    }).pipe(storage("ApiKeys.revoke"))

  const list = (businessId: BusinessId) =>
    sql`SELECT ${sql.literal(columns)} FROM api_keys WHERE business_id = ${businessId} ORDER BY created_at, id`.pipe(
      Effect.flatMap(decodeRows),
      Effect.map((rows) => rows.map(toApiKey)),
      storage("ApiKeys.list")
    )

  return ApiKeys.of({ create, authenticate, revoke, list })
})

export const layer: Layer.Layer<ApiKeys, never, SqlClient.SqlClient | Ids> = Layer.scoped(ApiKeys, make)
