/**
 * The attempt log of one outbound webhook delivery (`webhook_endpoint_attempts`): every try the worker made, with
 * its status code, latency, error and the start of the response, so an operator can see why a delivery failed and
 * when it was retried — the delivery list shows only the last attempt. `WebhookDeliveries.record` writes it; this
 * module only reads it, scoped by business and endpoint.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { BusinessId, StorageError } from "@parley/core"
import { Context, DateTime, Effect, Layer, Schema } from "effect"
import { Integer, Timestamp } from "./internal/columns.js"
import { storage } from "./internal/storage.js"
import { WebhookEndpointNotFound } from "./WebhookEndpoints.js"

/** The delivery is not one of this endpoint's (or not this business's). */
export class WebhookDeliveryNotFound extends Schema.TaggedError<WebhookDeliveryNotFound>()("WebhookDeliveryNotFound", {
  deliveryId: Schema.String
}) {
  override get message() {
    return "webhook delivery not found"
  }
}

/** One attempt, as the API shows it. */
export interface AttemptJson {
  /** 1 for the first; numbers keep rising across replays. */
  readonly attempt: number
  readonly startedAt: string
  /** Null when no HTTP answer came (timeout, refused, reset). */
  readonly statusCode: number | null
  readonly latencyMs: number
  readonly error: string | null
  readonly responseExcerpt: string | null
}

export interface AttemptPage {
  readonly items: ReadonlyArray<AttemptJson>
  /** Pass back as `cursor` for the next (older) page. */
  readonly nextCursor: string | null
}

export class WebhookAttempts extends Context.Tag("@parley/postgres/WebhookAttempts")<
  WebhookAttempts,
  {
    /** One delivery's attempts, newest first. */
    readonly list: (
      businessId: BusinessId,
      endpointId: string,
      deliveryId: string,
      page: { readonly limit: number; readonly cursor?: string | undefined }
    ) => Effect.Effect<AttemptPage, WebhookEndpointNotFound | WebhookDeliveryNotFound | StorageError>
  }
>() {}

const AttemptRow = Schema.Struct({
  attempt: Integer,
  started_at: Timestamp,
  status_code: Schema.NullOr(Integer),
  latency_ms: Integer,
  error: Schema.NullOr(Schema.String),
  response_excerpt: Schema.NullOr(Schema.String)
})
const decodeAttemptRows = Schema.decodeUnknown(Schema.Array(AttemptRow))
const FoundRow = Schema.Struct({ endpoint: Schema.Boolean, delivery: Schema.Boolean })
const decodeFoundRows = Schema.decodeUnknown(Schema.Array(FoundRow))

const isUuid = Schema.is(Schema.UUID)

/** The cursor is the last attempt number shown; a malformed one starts from the newest. */
const decodeCursor = (cursor: string | undefined): number | undefined => {
  if (cursor === undefined || !/^[1-9][0-9]{0,8}$/.test(cursor)) return undefined
  return Number(cursor)
}

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  const list = (
    businessId: BusinessId,
    endpointId: string,
    deliveryId: string,
    page: { readonly limit: number; readonly cursor?: string | undefined }
  ) =>
    Effect.gen(function* () {
      if (!isUuid(endpointId)) return yield* new WebhookEndpointNotFound({ endpointId })
      if (!isUuid(deliveryId)) return yield* new WebhookDeliveryNotFound({ deliveryId })
      // Which of the two is missing decides the 404's code, so both are checked in one round trip.
      const [found] = yield* sql`
        SELECT
          EXISTS (SELECT 1 FROM webhook_endpoints WHERE business_id = ${businessId} AND id = ${endpointId}) AS endpoint,
          EXISTS (
            SELECT 1 FROM webhook_endpoint_deliveries
            WHERE business_id = ${businessId} AND id = ${deliveryId} AND endpoint_id = ${endpointId}
          ) AS delivery`.pipe(Effect.flatMap(decodeFoundRows))
      if (found?.endpoint !== true) return yield* new WebhookEndpointNotFound({ endpointId })
      if (!found.delivery) return yield* new WebhookDeliveryNotFound({ deliveryId })
      const before = decodeCursor(page.cursor)
      const limit = Math.max(1, Math.floor(page.limit))
      const rows = yield* sql`
        SELECT attempt, started_at, status_code, latency_ms, error, response_excerpt
        FROM webhook_endpoint_attempts
        WHERE business_id = ${businessId} AND delivery_id = ${deliveryId}
          ${before === undefined ? sql`` : sql`AND attempt < ${before}`}
        ORDER BY attempt DESC
        LIMIT ${limit + 1}`.pipe(Effect.flatMap(decodeAttemptRows))
      const items = rows.slice(0, limit)
      const last = items[items.length - 1]
      return {
        items: items.map(
          (row): AttemptJson => ({
            attempt: row.attempt,
            startedAt: DateTime.formatIso(row.started_at),
            statusCode: row.status_code,
            latencyMs: row.latency_ms,
            error: row.error,
            responseExcerpt: row.response_excerpt
          })
        ),
        nextCursor: rows.length > limit && last !== undefined ? String(last.attempt) : null
      }
    }).pipe(storage("WebhookAttempts.list"))

  return WebhookAttempts.of({ list })
})

export const layer: Layer.Layer<WebhookAttempts, never, SqlClient.SqlClient> = Layer.effect(WebhookAttempts, make)
