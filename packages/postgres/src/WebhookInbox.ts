/**
 * The durable webhook inbox: the HTTP server appends every signed delivery here, raw bytes as
 * received, before answering 200; a worker then claims deliveries and processes them. A crash between the two loses
 * nothing, and Meta's retries of a delivery already stored are recognised by the body's SHA-256.
 *
 * Claims are leases taken with `FOR UPDATE SKIP LOCKED`, so several workers (in several processes) share the queue
 * without waiting on each other; a worker that dies leaves its lease to expire and the delivery is claimed again.
 * Only the worker claims: the request that appended a delivery never processes it, so no delivery is processed by
 * two hands at once.
 *
 * Items of a delivery that the database refused are tracked one by one (`recordFailures`): after a bounded number
 * of attempts an item is set aside as a dead letter, listed and replayed by an operator, while the delivery's other
 * items are applied.
 */

import { createHash } from "node:crypto"
import * as SqlClient from "@effect/sql/SqlClient"
import { ProviderName, type StorageError } from "@parley/core"
import { Context, Data, type DateTime, Effect, Layer, Option, Schema } from "effect"
import { Bytes, Integer, json, Timestamp, toDate } from "./internal/columns.js"
import { storage } from "./internal/storage.js"

/** A delivery's id: the hex SHA-256 of its body, which is also what deduplicates it. */
export type DeliveryId = string

export class WebhookDelivery extends Schema.Class<WebhookDelivery>("WebhookDelivery")({
  id: Schema.String,
  /** Who sent it, which says how its body reads (Meta: JSON; Twilio: form-encoded parameters). */
  provider: ProviderName,
  /** The body exactly as received: the signature was computed over these bytes. */
  body: Schema.Uint8ArrayFromSelf,
  receivedAt: Schema.DateTimeUtc,
  /** How many claims this delivery has had, this one included. */
  attempts: Schema.Int,
  lastError: Schema.NullOr(Schema.String)
}) {
  /** The body as UTF-8 text (Meta sends JSON, Twilio form-encoded parameters). */
  get text(): string {
    return Buffer.from(this.body).toString("utf8")
  }
}

export type Appended = Data.TaggedEnum<{
  /** Stored for processing. */
  Stored: { readonly id: DeliveryId }
  /** The same body was stored before (a provider retry): nothing changed. */
  Duplicate: { readonly id: DeliveryId }
}>
export const Appended = Data.taggedEnum<Appended>()

export class UnroutedWebhook extends Schema.Class<UnroutedWebhook>("UnroutedWebhook")({
  provider: ProviderName,
  providerPhoneNumberId: Schema.String,
  deliveryId: Schema.String,
  payload: Schema.Unknown,
  receivedAt: Schema.DateTimeUtc
}) {}

/** What part of a delivery an item failure is about. */
export const ItemKind = Schema.Literal("message", "status", "number")
export type ItemKind = typeof ItemKind.Type

/** `retrying`: retried with its delivery; `dead`: set aside until replayed; `resolved`: applied after all. */
export const FailureState = Schema.Literal("retrying", "dead", "resolved")
export type FailureState = typeof FailureState.Type

/** One item of a delivery that the database refused, and what became of it. */
export class ItemFailure extends Schema.Class<ItemFailure>("WebhookItemFailure")({
  id: Schema.String,
  deliveryId: Schema.String,
  providerPhoneNumberId: Schema.String,
  kind: ItemKind,
  /** `message:<wamid>`, `status:<wamid>:<status>` or `number`: where the item is in the delivery's body. */
  itemKey: Schema.String,
  attempts: Schema.Int,
  lastError: Schema.String,
  firstFailedAt: Schema.DateTimeUtc,
  lastFailedAt: Schema.DateTimeUtc,
  deadAt: Schema.NullOr(Schema.DateTimeUtc),
  resolvedAt: Schema.NullOr(Schema.DateTimeUtc)
}) {
  get state(): FailureState {
    if (this.resolvedAt !== null) return "resolved"
    return this.deadAt !== null ? "dead" : "retrying"
  }
}

/** An item's failure in one attempt. */
export interface ItemFailed {
  readonly providerPhoneNumberId: string
  readonly kind: ItemKind
  readonly itemKey: string
  readonly error: string
}

/** Identifies an item inside a delivery. */
export interface ItemRef {
  readonly providerPhoneNumberId: string
  readonly itemKey: string
}

export class WebhookInbox extends Context.Tag("@parley/postgres/WebhookInbox")<
  WebhookInbox,
  {
    /** Stores a delivery durably (committed when this succeeds), deduplicated by its body's SHA-256. */
    readonly append: (input: {
      readonly body: Uint8Array | string
      readonly receivedAt: DateTime.Utc
      /** Default Meta's Cloud API. */
      readonly provider?: ProviderName | undefined
    }) => Effect.Effect<Appended, StorageError>
    /**
     * Claims up to `limit` unprocessed deliveries, oldest first, whose lease is free or expired, and leases them
     * until `leaseUntil`. Concurrent claimers get disjoint deliveries.
     */
    readonly claim: (input: {
      readonly limit: number
      readonly now: DateTime.Utc
      readonly leaseUntil: DateTime.Utc
    }) => Effect.Effect<ReadonlyArray<WebhookDelivery>, StorageError>
    readonly markProcessed: (id: DeliveryId, at: DateTime.Utc) => Effect.Effect<void, StorageError>
    /** `markProcessed` for several deliveries in one statement (a worker's round). */
    readonly markProcessedAll: (ids: ReadonlyArray<DeliveryId>, at: DateTime.Utc) => Effect.Effect<void, StorageError>
    /** The worker still holds this claimed delivery: its lease runs until `leaseUntil` (no-op once processed). */
    readonly extendLease: (id: DeliveryId, leaseUntil: DateTime.Utc) => Effect.Effect<void, StorageError>
    /** Processing failed: the reason is kept and the delivery is claimable again from `retryAt`. */
    readonly markFailed: (id: DeliveryId, reason: string, retryAt: DateTime.Utc) => Effect.Effect<void, StorageError>
    /** Keeps aside a change for a phone_number_id no business owns. Idempotent. */
    readonly keepUnrouted: (input: {
      /** Default Meta's Cloud API. */
      readonly provider?: ProviderName | undefined
      readonly providerPhoneNumberId: string
      readonly deliveryId: DeliveryId
      readonly payload: unknown
      readonly receivedAt: DateTime.Utc
    }) => Effect.Effect<void, StorageError>
    readonly listUnrouted: (limit: number) => Effect.Effect<ReadonlyArray<UnroutedWebhook>, StorageError>
    /** Kept-aside changes whose phone_number_id a business owns now, oldest first: to be replayed. */
    readonly listRoutableUnrouted: (limit: number) => Effect.Effect<ReadonlyArray<UnroutedWebhook>, StorageError>
    /** The kept-aside changes were replayed: forget them. */
    readonly dropUnrouted: (
      providerPhoneNumberId: string,
      deliveryId: DeliveryId,
      provider?: ProviderName
    ) => Effect.Effect<void, StorageError>
    /** A stored delivery, processed or not. */
    readonly findDelivery: (id: DeliveryId) => Effect.Effect<Option.Option<WebhookDelivery>, StorageError>
    /**
     * Counts one more failed attempt for each item (a new item starts at 1) and keeps its error; an item that
     * reaches `maxAttempts` is set aside (dead). Returns the items as they now stand.
     */
    readonly recordFailures: (input: {
      readonly deliveryId: DeliveryId
      readonly failures: ReadonlyArray<ItemFailed>
      readonly at: DateTime.Utc
      readonly maxAttempts: number
    }) => Effect.Effect<ReadonlyArray<ItemFailure>, StorageError>
    /** The delivery's items that were set aside: its later attempts skip them. */
    readonly deadItems: (deliveryId: DeliveryId) => Effect.Effect<ReadonlyArray<ItemRef>, StorageError>
    /** Items of the delivery that were retrying and were applied in this attempt (every one not in `except`). */
    readonly resolveRetrying: (
      deliveryId: DeliveryId,
      except: ReadonlyArray<ItemRef>,
      at: DateTime.Utc
    ) => Effect.Effect<void, StorageError>
    /** Newest first (first failure, then id), keyset after `after`; all states unless `state` is given. */
    readonly listFailures: (query: {
      readonly limit: number
      readonly state?: FailureState | undefined
      readonly after?: { readonly at: DateTime.Utc; readonly id: string } | undefined
    }) => Effect.Effect<ReadonlyArray<ItemFailure>, StorageError>
    readonly findFailure: (id: string) => Effect.Effect<Option.Option<ItemFailure>, StorageError>
    /** The outcome of an operator's replay: resolved, or one more attempt with its error (it stays dead). */
    readonly recordReplay: (
      id: string,
      outcome:
        | { readonly _tag: "Applied"; readonly at: DateTime.Utc }
        | {
            readonly _tag: "Failed"
            readonly error: string
            readonly at: DateTime.Utc
          }
    ) => Effect.Effect<Option.Option<ItemFailure>, StorageError>
    /**
     * Deletes deliveries processed before `before`, except those with an unresolved item (a replay needs the body).
     * Keep them longer than the provider retries (Meta: 7 days), or a late retry would be processed again.
     * Returns the count.
     */
    readonly purgeProcessed: (before: DateTime.Utc) => Effect.Effect<number, StorageError>
  }
>() {}

const DeliveryRow = Schema.Struct({
  body_sha256: Bytes,
  provider: ProviderName,
  body: Bytes,
  received_at: Timestamp,
  attempts: Integer,
  last_error: Schema.NullOr(Schema.String)
})
const decodeDeliveryRows = Schema.decodeUnknown(Schema.Array(DeliveryRow))
const UnroutedRow = Schema.Struct({
  provider: ProviderName,
  provider_phone_number_id: Schema.String,
  delivery_sha256: Bytes,
  payload: Schema.Unknown,
  received_at: Timestamp
})
const decodeUnroutedRows = Schema.decodeUnknown(Schema.Array(UnroutedRow))
const FailureRow = Schema.Struct({
  id: Schema.String,
  delivery_sha256: Bytes,
  provider_phone_number_id: Schema.String,
  kind: ItemKind,
  item_key: Schema.String,
  attempts: Integer,
  last_error: Schema.String,
  first_failed_at: Timestamp,
  last_failed_at: Timestamp,
  dead_at: Schema.NullOr(Timestamp),
  resolved_at: Schema.NullOr(Timestamp)
})
const decodeFailureRows = Schema.decodeUnknown(Schema.Array(FailureRow))
const failureColumns =
  "id::text AS id, delivery_sha256, provider_phone_number_id, kind, item_key, attempts, last_error, first_failed_at, " +
  "last_failed_at, dead_at, resolved_at"
const ItemRefRow = Schema.Struct({ provider_phone_number_id: Schema.String, item_key: Schema.String })
const decodeItemRefRows = Schema.decodeUnknown(Schema.Array(ItemRefRow))
const isUuid = (id: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)
/** Errors are kept for people to read: bounded, and with NUL (which text cannot hold) spelled out. */
const errorText = (error: string) => error.replaceAll("\u0000", "\\u0000").slice(0, 2000)

const CountRow = Schema.Struct({ count: Integer })
const decodeCountRows = Schema.decodeUnknown(Schema.Array(CountRow))

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex")
const fromHex = (id: DeliveryId) => Buffer.from(id, "hex")

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  const append = (input: {
    readonly body: Uint8Array | string
    readonly receivedAt: DateTime.Utc
    readonly provider?: ProviderName | undefined
  }) => {
    const body = typeof input.body === "string" ? Buffer.from(input.body, "utf8") : input.body
    const digest = createHash("sha256").update(body).digest()
    const id = digest.toString("hex")
    return sql`
      INSERT INTO webhook_deliveries (body_sha256, body, received_at, provider)
      VALUES (${digest}, ${body}, ${toDate(input.receivedAt)}, ${input.provider ?? "whatsapp_cloud"})
      ON CONFLICT (body_sha256) DO NOTHING
      RETURNING body_sha256`.pipe(
      Effect.map((rows) => (rows.length > 0 ? Appended.Stored({ id }) : Appended.Duplicate({ id }))),
      storage("WebhookInbox.append")
    )
  }

  const claim = (input: { readonly limit: number; readonly now: DateTime.Utc; readonly leaseUntil: DateTime.Utc }) =>
    sql`
      UPDATE webhook_deliveries d SET locked_until = ${toDate(input.leaseUntil)}, attempts = d.attempts + 1
      FROM (
        SELECT body_sha256 FROM webhook_deliveries
        WHERE processed_at IS NULL AND (locked_until IS NULL OR locked_until <= ${toDate(input.now)})
        ORDER BY received_at
        LIMIT ${Math.max(0, Math.floor(input.limit))}
        FOR UPDATE SKIP LOCKED
      ) next
      WHERE d.body_sha256 = next.body_sha256
      RETURNING d.body_sha256, d.provider, d.body, d.received_at, d.attempts, d.last_error`.pipe(
      Effect.flatMap(decodeDeliveryRows),
      Effect.map((rows) => rows.map(deliveryOf).sort((a, b) => a.receivedAt.epochMillis - b.receivedAt.epochMillis)),
      storage("WebhookInbox.claim")
    )

  const markProcessed = (id: DeliveryId, at: DateTime.Utc) =>
    sql`
      UPDATE webhook_deliveries SET processed_at = ${toDate(at)}, locked_until = NULL
      WHERE body_sha256 = ${fromHex(id)}`.pipe(Effect.asVoid, storage("WebhookInbox.markProcessed"))

  const markProcessedAll = (ids: ReadonlyArray<DeliveryId>, at: DateTime.Utc) =>
    ids.length === 0
      ? Effect.void
      : sql`
          UPDATE webhook_deliveries SET processed_at = ${toDate(at)}, locked_until = NULL
          WHERE body_sha256 IN ${sql.in(ids.map(fromHex))}`.pipe(Effect.asVoid, storage("WebhookInbox.markProcessed"))

  const extendLease = (id: DeliveryId, leaseUntil: DateTime.Utc) =>
    sql`
      UPDATE webhook_deliveries SET locked_until = ${toDate(leaseUntil)}
      WHERE body_sha256 = ${fromHex(id)} AND processed_at IS NULL`.pipe(
      Effect.asVoid,
      storage("WebhookInbox.extendLease")
    )

  const markFailed = (id: DeliveryId, reason: string, retryAt: DateTime.Utc) =>
    sql`
      UPDATE webhook_deliveries SET last_error = ${reason.slice(0, 2000)}, locked_until = ${toDate(retryAt)}
      WHERE body_sha256 = ${fromHex(id)} AND processed_at IS NULL`.pipe(
      Effect.asVoid,
      storage("WebhookInbox.markFailed")
    )

  const keepUnrouted = (input: {
    readonly provider?: ProviderName | undefined
    readonly providerPhoneNumberId: string
    readonly deliveryId: DeliveryId
    readonly payload: unknown
    readonly receivedAt: DateTime.Utc
  }) =>
    sql`
      INSERT INTO unrouted_webhooks (provider, provider_phone_number_id, delivery_sha256, payload, received_at)
      VALUES (
        ${input.provider ?? "whatsapp_cloud"}, ${input.providerPhoneNumberId}, ${fromHex(input.deliveryId)}, ${json(input.payload)}::jsonb,
        ${toDate(input.receivedAt)}
      )
      ON CONFLICT DO NOTHING`.pipe(Effect.asVoid, storage("WebhookInbox.keepUnrouted"))

  const listUnrouted = (limit: number) =>
    sql`
      SELECT provider, provider_phone_number_id, delivery_sha256, payload, received_at FROM unrouted_webhooks
      ORDER BY received_at DESC LIMIT ${Math.max(0, Math.floor(limit))}`.pipe(
      Effect.flatMap(decodeUnroutedRows),
      Effect.map(unroutedOf),
      storage("WebhookInbox.listUnrouted")
    )

  const purgeProcessed = (before: DateTime.Utc) =>
    sql`
      WITH purged AS (
        DELETE FROM webhook_deliveries d
        WHERE d.processed_at IS NOT NULL AND d.processed_at < ${toDate(before)}
          AND NOT EXISTS (
            SELECT 1 FROM webhook_item_failures f WHERE f.delivery_sha256 = d.body_sha256 AND f.resolved_at IS NULL
          )
        RETURNING 1
      )
      SELECT count(*)::int AS count FROM purged`.pipe(
      Effect.flatMap(decodeCountRows),
      Effect.map((rows) => rows[0]?.count ?? 0),
      storage("WebhookInbox.purgeProcessed")
    )

  const unroutedOf = (rows: ReadonlyArray<typeof UnroutedRow.Type>) =>
    rows.map(
      (row) =>
        new UnroutedWebhook(
          {
            provider: row.provider,
            providerPhoneNumberId: row.provider_phone_number_id,
            deliveryId: hex(row.delivery_sha256),
            payload: row.payload,
            receivedAt: row.received_at
          },
          true
        )
    )

  const listRoutableUnrouted = (limit: number) =>
    sql`
      SELECT u.provider, u.provider_phone_number_id, u.delivery_sha256, u.payload, u.received_at
      FROM unrouted_webhooks u
      WHERE EXISTS (
        SELECT 1 FROM whatsapp_numbers n
        WHERE n.provider = u.provider AND n.provider_phone_number_id = u.provider_phone_number_id
      )
      ORDER BY u.received_at LIMIT ${Math.max(0, Math.floor(limit))}`.pipe(
      Effect.flatMap(decodeUnroutedRows),
      Effect.map(unroutedOf),
      storage("WebhookInbox.listRoutableUnrouted")
    )

  const dropUnrouted = (
    providerPhoneNumberId: string,
    deliveryId: DeliveryId,
    provider: ProviderName = "whatsapp_cloud"
  ) =>
    sql`
      DELETE FROM unrouted_webhooks
      WHERE provider = ${provider} AND provider_phone_number_id = ${providerPhoneNumberId}
        AND delivery_sha256 = ${fromHex(deliveryId)}`.pipe(Effect.asVoid, storage("WebhookInbox.dropUnrouted"))

  const deliveryOf = (row: typeof DeliveryRow.Type) =>
    new WebhookDelivery(
      {
        id: hex(row.body_sha256),
        provider: row.provider,
        body: row.body,
        receivedAt: row.received_at,
        attempts: row.attempts,
        lastError: row.last_error
      },
      true
    )

  const findDelivery = (id: DeliveryId) =>
    sql`
      SELECT body_sha256, provider, body, received_at, attempts, last_error FROM webhook_deliveries
      WHERE body_sha256 = ${fromHex(id)}`.pipe(
      Effect.flatMap(decodeDeliveryRows),
      Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), deliveryOf)),
      storage("WebhookInbox.findDelivery")
    )

  const failureOf = (row: typeof FailureRow.Type) =>
    new ItemFailure(
      {
        id: row.id,
        deliveryId: hex(row.delivery_sha256),
        providerPhoneNumberId: row.provider_phone_number_id,
        kind: row.kind,
        itemKey: row.item_key,
        attempts: row.attempts,
        lastError: row.last_error,
        firstFailedAt: row.first_failed_at,
        lastFailedAt: row.last_failed_at,
        deadAt: row.dead_at,
        resolvedAt: row.resolved_at
      },
      true
    )
  const failures = (rows: ReadonlyArray<unknown>) =>
    Effect.map(decodeFailureRows(rows), (decoded) => decoded.map(failureOf))

  const recordFailures = (input: {
    readonly deliveryId: DeliveryId
    readonly failures: ReadonlyArray<ItemFailed>
    readonly at: DateTime.Utc
    readonly maxAttempts: number
  }) => {
    const at = toDate(input.at)
    const max = Math.max(1, Math.floor(input.maxAttempts))
    // One upsert per item: failures are few, and each must count exactly once even when two workers race.
    return Effect.forEach(input.failures, (failure) =>
      sql`
        INSERT INTO webhook_item_failures AS f (delivery_sha256, provider_phone_number_id, kind, item_key, attempts,
          last_error, first_failed_at, last_failed_at, dead_at)
        VALUES (${fromHex(input.deliveryId)}, ${failure.providerPhoneNumberId}, ${failure.kind}, ${failure.itemKey}, 1,
          ${errorText(failure.error)}, ${at}, ${at}, CASE WHEN ${max}::int <= 1 THEN ${at}::timestamptz END)
        ON CONFLICT (delivery_sha256, provider_phone_number_id, item_key) DO UPDATE SET
          attempts = f.attempts + 1,
          last_error = EXCLUDED.last_error,
          last_failed_at = EXCLUDED.last_failed_at,
          dead_at = COALESCE(f.dead_at, CASE WHEN f.attempts + 1 >= ${max}::int THEN EXCLUDED.last_failed_at END),
          resolved_at = NULL
        RETURNING ${sql.literal(failureColumns)}`.pipe(Effect.flatMap(failures))
    ).pipe(
      Effect.map((rows) => rows.flat()),
      storage("WebhookInbox.recordFailures")
    )
  }

  const deadItems = (deliveryId: DeliveryId) =>
    sql`
      SELECT provider_phone_number_id, item_key FROM webhook_item_failures
      WHERE delivery_sha256 = ${fromHex(deliveryId)} AND dead_at IS NOT NULL AND resolved_at IS NULL`.pipe(
      Effect.flatMap(decodeItemRefRows),
      Effect.map((rows) =>
        rows.map((row) => ({ providerPhoneNumberId: row.provider_phone_number_id, itemKey: row.item_key }))
      ),
      storage("WebhookInbox.deadItems")
    )

  const resolveRetrying = (deliveryId: DeliveryId, except: ReadonlyArray<ItemRef>, at: DateTime.Utc) =>
    Effect.gen(function* () {
      const open = yield* sql`
        SELECT ${sql.literal(failureColumns)} FROM webhook_item_failures
        WHERE delivery_sha256 = ${fromHex(deliveryId)} AND dead_at IS NULL AND resolved_at IS NULL`.pipe(
        Effect.flatMap(failures)
      )
      const applied = open.filter(
        (f) => !except.some((ref) => ref.providerPhoneNumberId === f.providerPhoneNumberId && ref.itemKey === f.itemKey)
      )
      if (applied.length === 0) return
      yield* sql`
        UPDATE webhook_item_failures SET resolved_at = ${toDate(at)}
        WHERE id::text IN ${sql.in(applied.map((f) => f.id))} AND dead_at IS NULL AND resolved_at IS NULL`
    }).pipe(storage("WebhookInbox.resolveRetrying"))

  const listFailures = (query: {
    readonly limit: number
    readonly state?: FailureState | undefined
    readonly after?: { readonly at: DateTime.Utc; readonly id: string } | undefined
  }) => {
    const state =
      query.state === "resolved"
        ? sql`AND resolved_at IS NOT NULL`
        : query.state === "dead"
          ? sql`AND resolved_at IS NULL AND dead_at IS NOT NULL`
          : query.state === "retrying"
            ? sql`AND resolved_at IS NULL AND dead_at IS NULL`
            : sql``
    const after =
      query.after === undefined || !isUuid(query.after.id)
        ? sql``
        : sql`AND (first_failed_at, id) < (${toDate(query.after.at)}, ${query.after.id}::uuid)`
    return sql`
      SELECT ${sql.literal(failureColumns)} FROM webhook_item_failures
      WHERE true ${state} ${after}
      ORDER BY first_failed_at DESC, id DESC
      LIMIT ${Math.max(0, Math.floor(query.limit))}`.pipe(
      Effect.flatMap(failures),
      storage("WebhookInbox.listFailures")
    )
  }

  const findFailure = (id: string) =>
    isUuid(id)
      ? sql`SELECT ${sql.literal(failureColumns)} FROM webhook_item_failures WHERE id = ${id}::uuid`.pipe(
          Effect.flatMap(failures),
          Effect.map((rows) => Option.fromNullable(rows[0])),
          storage("WebhookInbox.findFailure")
        )
      : Effect.succeed(Option.none<ItemFailure>())

  const recordReplay = (
    id: string,
    outcome:
      | { readonly _tag: "Applied"; readonly at: DateTime.Utc }
      | { readonly _tag: "Failed"; readonly error: string; readonly at: DateTime.Utc }
  ) =>
    !isUuid(id)
      ? Effect.succeed(Option.none<ItemFailure>())
      : (outcome._tag === "Applied"
          ? sql`
            UPDATE webhook_item_failures SET resolved_at = ${toDate(outcome.at)}
            WHERE id = ${id}::uuid
            RETURNING ${sql.literal(failureColumns)}`
          : sql`
            UPDATE webhook_item_failures SET
              attempts = attempts + 1, last_error = ${errorText(outcome.error)},
              last_failed_at = ${toDate(outcome.at)}, dead_at = COALESCE(dead_at, ${toDate(outcome.at)}),
              resolved_at = NULL
            WHERE id = ${id}::uuid
            RETURNING ${sql.literal(failureColumns)}`
        ).pipe(
          Effect.flatMap(failures),
          Effect.map((rows) => Option.fromNullable(rows[0])),
          storage("WebhookInbox.recordReplay")
        )

  return WebhookInbox.of({
    append,
    claim,
    markProcessed,
    markProcessedAll,
    extendLease,
    markFailed,
    keepUnrouted,
    listUnrouted,
    listRoutableUnrouted,
    dropUnrouted,
    findDelivery,
    recordFailures,
    deadItems,
    resolveRetrying,
    listFailures,
    findFailure,
    recordReplay,
    purgeProcessed
  })
})

export const layer: Layer.Layer<WebhookInbox, never, SqlClient.SqlClient> = Layer.effect(WebhookInbox, make)
