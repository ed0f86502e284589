/**
 * The durable webhook inbox (reliability.md §2.6): the HTTP server appends every signed delivery here, raw bytes as
 * received, before answering 200; a worker then claims deliveries and processes them. A crash between the two loses
 * nothing, and Meta's retries of a delivery already stored are recognised by the body's SHA-256.
 *
 * Claims are leases taken with `FOR UPDATE SKIP LOCKED`, so several workers (in several processes) share the queue
 * without waiting on each other; a worker that dies leaves its lease to expire and the delivery is claimed again.
 */

import { createHash } from "node:crypto"
import * as SqlClient from "@effect/sql/SqlClient"
import type { StorageError } from "@parley/core"
import { Context, Data, type DateTime, Effect, Layer, Schema } from "effect"
import { Bytes, Integer, json, Timestamp, toDate } from "./internal/columns.js"
import { storage } from "./internal/storage.js"

/** A delivery's id: the hex SHA-256 of its body, which is also what deduplicates it. */
export type DeliveryId = string

export class WebhookDelivery extends Schema.Class<WebhookDelivery>("WebhookDelivery")({
  id: Schema.String,
  /** The body exactly as received: the signature was computed over these bytes. */
  body: Schema.Uint8ArrayFromSelf,
  receivedAt: Schema.DateTimeUtc,
  /** How many claims this delivery has had, this one included. */
  attempts: Schema.Int,
  lastError: Schema.NullOr(Schema.String)
}) {
  /** The body as UTF-8 text (Meta sends JSON). */
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
  providerPhoneNumberId: Schema.String,
  deliveryId: Schema.String,
  payload: Schema.Unknown,
  receivedAt: Schema.DateTimeUtc
}) {}

export class WebhookInbox extends Context.Tag("@parley/postgres/WebhookInbox")<
  WebhookInbox,
  {
    /** Stores a delivery durably (committed when this succeeds), deduplicated by its body's SHA-256. */
    readonly append: (input: {
      readonly body: Uint8Array | string
      readonly receivedAt: DateTime.Utc
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
    /** Processing failed: the reason is kept and the delivery is claimable again from `retryAt`. */
    readonly markFailed: (id: DeliveryId, reason: string, retryAt: DateTime.Utc) => Effect.Effect<void, StorageError>
    /** Keeps aside a change for a phone_number_id no business owns. Idempotent. */
    readonly keepUnrouted: (input: {
      readonly providerPhoneNumberId: string
      readonly deliveryId: DeliveryId
      readonly payload: unknown
      readonly receivedAt: DateTime.Utc
    }) => Effect.Effect<void, StorageError>
    readonly listUnrouted: (limit: number) => Effect.Effect<ReadonlyArray<UnroutedWebhook>, StorageError>
    /**
     * Deletes deliveries processed before `before`. Keep them longer than the provider retries (Meta: 7 days), or
     * a late retry would be processed again. Returns the count.
     */
    readonly purgeProcessed: (before: DateTime.Utc) => Effect.Effect<number, StorageError>
  }
>() {}

const DeliveryRow = Schema.Struct({
  body_sha256: Bytes,
  body: Bytes,
  received_at: Timestamp,
  attempts: Integer,
  last_error: Schema.NullOr(Schema.String)
})
const decodeDeliveryRows = Schema.decodeUnknown(Schema.Array(DeliveryRow))
const UnroutedRow = Schema.Struct({
  provider_phone_number_id: Schema.String,
  delivery_sha256: Bytes,
  payload: Schema.Unknown,
  received_at: Timestamp
})
const decodeUnroutedRows = Schema.decodeUnknown(Schema.Array(UnroutedRow))
const CountRow = Schema.Struct({ count: Integer })
const decodeCountRows = Schema.decodeUnknown(Schema.Array(CountRow))

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex")
const fromHex = (id: DeliveryId) => Buffer.from(id, "hex")

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  const append = (input: { readonly body: Uint8Array | string; readonly receivedAt: DateTime.Utc }) => {
    const body = typeof input.body === "string" ? Buffer.from(input.body, "utf8") : input.body
    const digest = createHash("sha256").update(body).digest()
    const id = digest.toString("hex")
    return sql`
      INSERT INTO webhook_deliveries (body_sha256, body, received_at)
      VALUES (${digest}, ${body}, ${toDate(input.receivedAt)})
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
      RETURNING d.body_sha256, d.body, d.received_at, d.attempts, d.last_error`.pipe(
      Effect.flatMap(decodeDeliveryRows),
      Effect.map((rows) =>
        rows
          .map(
            (row) =>
              new WebhookDelivery(
                {
                  id: hex(row.body_sha256),
                  body: row.body,
                  receivedAt: row.received_at,
                  attempts: row.attempts,
                  lastError: row.last_error
                },
                true
              )
          )
          .sort((a, b) => a.receivedAt.epochMillis - b.receivedAt.epochMillis)
      ),
      storage("WebhookInbox.claim")
    )

  const markProcessed = (id: DeliveryId, at: DateTime.Utc) =>
    sql`
      UPDATE webhook_deliveries SET processed_at = ${toDate(at)}, locked_until = NULL
      WHERE body_sha256 = ${fromHex(id)}`.pipe(Effect.asVoid, storage("WebhookInbox.markProcessed"))

  const markFailed = (id: DeliveryId, reason: string, retryAt: DateTime.Utc) =>
    sql`
      UPDATE webhook_deliveries SET last_error = ${reason.slice(0, 2000)}, locked_until = ${toDate(retryAt)}
      WHERE body_sha256 = ${fromHex(id)} AND processed_at IS NULL`.pipe(
      Effect.asVoid,
      storage("WebhookInbox.markFailed")
    )

  const keepUnrouted = (input: {
    readonly providerPhoneNumberId: string
    readonly deliveryId: DeliveryId
    readonly payload: unknown
    readonly receivedAt: DateTime.Utc
  }) =>
    sql`
      INSERT INTO unrouted_webhooks (provider_phone_number_id, delivery_sha256, payload, received_at)
      VALUES (
        ${input.providerPhoneNumberId}, ${fromHex(input.deliveryId)}, ${json(input.payload)}::jsonb,
        ${toDate(input.receivedAt)}
      )
      ON CONFLICT DO NOTHING`.pipe(Effect.asVoid, storage("WebhookInbox.keepUnrouted"))

  const listUnrouted = (limit: number) =>
    sql`
      SELECT provider_phone_number_id, delivery_sha256, payload, received_at FROM unrouted_webhooks
      ORDER BY received_at DESC LIMIT ${Math.max(0, Math.floor(limit))}`.pipe(
      Effect.flatMap(decodeUnroutedRows),
      Effect.map((rows) =>
        rows.map(
          (row) =>
            new UnroutedWebhook(
              {
                providerPhoneNumberId: row.provider_phone_number_id,
                deliveryId: hex(row.delivery_sha256),
                payload: row.payload,
                receivedAt: row.received_at
              },
              true
            )
        )
      ),
      storage("WebhookInbox.listUnrouted")
    )

  const purgeProcessed = (before: DateTime.Utc) =>
    sql`
      WITH purged AS (
        DELETE FROM webhook_deliveries WHERE processed_at IS NOT NULL AND processed_at < ${toDate(before)}
        RETURNING 1
      )
      SELECT count(*)::int AS count FROM purged`.pipe(
      Effect.flatMap(decodeCountRows),
      Effect.map((rows) => rows[0]?.count ?? 0),
      storage("WebhookInbox.purgeProcessed")
    )

  return WebhookInbox.of({ append, claim, markProcessed, markFailed, keepUnrouted, listUnrouted, purgeProcessed })
})

export const layer: Layer.Layer<WebhookInbox, never, SqlClient.SqlClient> = Layer.effect(WebhookInbox, make)
