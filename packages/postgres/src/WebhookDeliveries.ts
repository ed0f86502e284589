/**
 * Outbound webhook deliveries: one row per (endpoint, event) in `webhook_endpoint_deliveries` (`webhook_deliveries` is the inbox of Meta's), with its retry state and a log of every attempt.
 *
 * - `fanOut` turns events into deliveries for the matching enabled endpoints, reading `events` after a cursor in
 *   commit-safe order (see the 0010 and 0012 migrations). The cursor row is locked for the transaction, so
 *   processes fan out in turn; a delivery is unique per (endpoint, event), so a repeat is a no-op.
 * - `claim` leases due deliveries with `FOR UPDATE SKIP LOCKED` in one statement that commits before any HTTP call:
 *   a lease names its owner and the attempt number it took, so two processes never make the same attempt.
 * - `record` writes an attempt's outcome only while the lease is still the caller's, logs the attempt, and keeps
 *   the endpoint's failure run (the circuit) in the same transaction.
 *
 * Times are passed in (`now`) so the worker's clock, and a test's, decides what is due.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { BusinessId, IsoTime, type StorageError } from "@parley/core"
import { Context, DateTime, Effect, Layer, type Redacted, Schema } from "effect"
import { Integer, Timestamp, toDate } from "./internal/columns.js"
import { publicData } from "./internal/events.js"
import { storage } from "./internal/storage.js"
import { Secrets } from "./Secrets.js"
import { secretContext, WebhookEndpointId, WebhookEndpointNotFound } from "./WebhookEndpoints.js"

export const DeliveryStatus = Schema.Literal("pending", "succeeded", "failed", "dead")
export type DeliveryStatus = typeof DeliveryStatus.Type

/**
 * The JSON body a receiver gets for an event: the same envelope the feed serves (core's `Events.Event`, with
 * `conversationId` and `sequence` null for an event of no conversation). One function builds it from the stored row
 * so the two cannot drift.
 */
export interface EventRow {
  readonly id: string
  readonly type: string
  readonly businessId: string
  readonly occurredAt: DateTime.Utc
  readonly conversationId: string | null
  readonly sequence: number | null
  readonly data: unknown
}

export const eventBody = (event: EventRow): Record<string, unknown> => ({
  id: event.id,
  type: event.type,
  businessId: event.businessId,
  occurredAt: IsoTime.format(event.occurredAt),
  conversationId: event.conversationId,
  sequence: event.sequence,
  data: event.data
})

/** A leased attempt: everything the worker needs to send it without another query. */
export interface ClaimedDelivery {
  readonly businessId: BusinessId
  readonly id: string
  readonly endpointId: WebhookEndpointId
  readonly url: string
  /** The attempt this lease is for (1 for the first). */
  readonly attempt: number
  /** Attempts since the delivery was created or last replayed: what the retry schedule counts. */
  readonly attemptInRun: number
  /** Current secret first, then the previous one while its overlap lasts. */
  readonly secrets: ReadonlyArray<Redacted.Redacted<string>>
  readonly event: EventRow
}

/** What one attempt came to, decided by the worker's retry policy. */
export type Outcome =
  | { readonly _tag: "Succeeded" }
  | { readonly _tag: "Retry"; readonly at: DateTime.Utc }
  /** The schedule is exhausted. */
  | { readonly _tag: "Dead" }
  /** The endpoint answered 410: this delivery fails and the endpoint is disabled. */
  | { readonly _tag: "Gone" }

export interface AttemptResult {
  readonly businessId: BusinessId
  readonly deliveryId: string
  readonly owner: string
  readonly attempt: number
  readonly startedAt: DateTime.Utc
  readonly statusCode: number | null
  readonly latencyMs: number
  readonly error: string | null
  /** The start of the response body, already bounded by the caller. */
  readonly responseExcerpt: string | null
  readonly outcome: Outcome
}

export interface Recorded {
  /** False when the lease had expired and another process took the delivery: nothing was written. */
  readonly applied: boolean
  /** Set when this attempt disabled the endpoint (`gone` or `failing`). */
  readonly endpointDisabled: string | null
}

export class DeliveryJson extends Schema.Class<DeliveryJson>("WebhookDelivery")({
  id: Schema.String,
  endpointId: Schema.String,
  eventId: Schema.String,
  eventType: Schema.String,
  status: DeliveryStatus,
  attempts: Schema.Number,
  nextAttemptAt: Schema.NullOr(Schema.String),
  lastStatusCode: Schema.NullOr(Schema.Number),
  lastLatencyMs: Schema.NullOr(Schema.Number),
  lastError: Schema.NullOr(Schema.String),
  responseExcerpt: Schema.NullOr(Schema.String),
  createdAt: Schema.String,
  updatedAt: Schema.String
}) {}

export interface DeliveryPage {
  readonly items: ReadonlyArray<DeliveryJson>
  /** Pass back as `cursor` for the next (older) page. */
  readonly nextCursor: string | null
}

export type ReplayTarget =
  | { readonly _tag: "Event"; readonly eventId: string }
  | { readonly _tag: "Range"; readonly since: DateTime.Utc; readonly until: DateTime.Utc }

export class WebhookDeliveries extends Context.Tag("@parley/postgres/WebhookDeliveries")<
  WebhookDeliveries,
  {
    /** Turns up to `limit` committed events after the cursor into deliveries; answers how many events it read. */
    readonly fanOut: (now: DateTime.Utc, limit: number) => Effect.Effect<number, StorageError>
    /** Leases up to `limit` due deliveries of enabled endpoints to `owner` until `now + leaseMs`. */
    readonly claim: (options: {
      readonly owner: string
      readonly now: DateTime.Utc
      readonly leaseMs: number
      readonly limit: number
    }) => Effect.Effect<ReadonlyArray<ClaimedDelivery>, StorageError>
    readonly record: (
      result: AttemptResult,
      options: { readonly now: DateTime.Utc; readonly circuitAfterMs: number }
    ) => Effect.Effect<Recorded, StorageError>
    /**
     * Records many successful attempts in one transaction (the common case, batched so a busy worker spends a few
     * round trips per batch, not per delivery); like `record`, only while each lease is still the caller's.
     * Answers how many were applied.
     */
    readonly recordSucceeded: (
      results: ReadonlyArray<AttemptResult>,
      options: { readonly now: DateTime.Utc }
    ) => Effect.Effect<number, StorageError>
    /** One endpoint's deliveries, newest first. */
    readonly list: (
      businessId: BusinessId,
      endpointId: string,
      page: { readonly limit: number; readonly cursor?: string | undefined }
    ) => Effect.Effect<DeliveryPage, WebhookEndpointNotFound | StorageError>
    /**
     * Queues the event (or every event of the business that occurred in `[since, until)`) for the endpoint again,
     * due at `now`, with a fresh retry schedule; events the endpoint's types exclude are left out. Answers how many.
     */
    readonly replay: (
      businessId: BusinessId,
      endpointId: string,
      target: ReplayTarget,
      now: DateTime.Utc
    ) => Effect.Effect<number, WebhookEndpointNotFound | StorageError>
    /**
     * Forgets at most `limit` final deliveries (succeeded, failed or dead) last updated before `cutoff`, with their
     * attempts (the foreign key cascades); answers how many. Pending ones are never forgotten: they still have to be
     * sent, and keep their events (see `SqlEventLog`'s purge).
     */
    readonly purgeFinal: (input: {
      readonly cutoff: DateTime.Utc
      readonly limit: number
    }) => Effect.Effect<number, StorageError>
  }
>() {}

const ClaimRow = Schema.Struct({
  business_id: BusinessId,
  id: Schema.String,
  endpoint_id: WebhookEndpointId,
  url: Schema.String,
  attempts: Integer,
  attempts_base: Integer,
  secret_sealed: Schema.String,
  previous_secret_sealed: Schema.NullOr(Schema.String),
  previous_expires_at: Schema.NullOr(Timestamp),
  event_id: Schema.String,
  type: Schema.String,
  occurred_at: Timestamp,
  conversation_id: Schema.NullOr(Schema.String),
  sequence: Schema.NullOr(Integer),
  data: Schema.Unknown
})
const decodeClaimRows = Schema.decodeUnknown(Schema.Array(ClaimRow))

const ListRow = Schema.Struct({
  id: Schema.String,
  endpoint_id: Schema.String,
  event_id: Schema.String,
  type: Schema.NullOr(Schema.String),
  status: DeliveryStatus,
  attempts: Integer,
  next_attempt_at: Timestamp,
  last_status_code: Schema.NullOr(Integer),
  last_latency_ms: Schema.NullOr(Integer),
  last_error: Schema.NullOr(Schema.String),
  response_excerpt: Schema.NullOr(Schema.String),
  created_at: Timestamp,
  updated_at: Timestamp
})
const decodeListRows = Schema.decodeUnknown(Schema.Array(ListRow))

const CursorRow = Schema.Struct({ xid: Schema.String, position: Integer })
const decodeCursorRows = Schema.decodeUnknown(Schema.Array(CursorRow))

/** A delivery-log cursor: the last row's `created_at` (ms) and id. Opaque to clients; a malformed one starts over. */
const encodeCursor = (createdAt: DateTime.Utc, id: string) =>
  Buffer.from(`${DateTime.toEpochMillis(createdAt)}:${id}`, "utf8").toString("base64url")
const decodeCursor = (cursor: string): { readonly createdAt: Date; readonly id: string } | undefined => {
  const [ms, id] = Buffer.from(cursor, "base64url").toString("utf8").split(":")
  const millis = Number(ms)
  return Number.isSafeInteger(millis) && id !== undefined && isUuid(id)
    ? { createdAt: new Date(millis), id }
    : undefined
}

const isUuid = Schema.is(Schema.UUID)

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const secrets = yield* Secrets

  const fanOut = (now: DateTime.Utc, limit: number) =>
    sql
      .withTransaction(
        Effect.gen(function* () {
          const [cursor] = yield* sql`
            SELECT xid::text AS xid, position FROM webhook_fanout_cursor FOR UPDATE`.pipe(
            Effect.flatMap(decodeCursorRows)
          )
          if (cursor === undefined) return 0
          // Only rows below the oldest running transaction are final: none can commit before them any more.
          const [last] = yield* sql`
            SELECT xid::text AS xid, position FROM (
              SELECT xid, position FROM events
              WHERE (xid, position) > (${cursor.xid}::xid8, ${cursor.position})
                AND xid < pg_snapshot_xmin(pg_current_snapshot())
              ORDER BY xid, position LIMIT ${limit}
            ) AS batch ORDER BY xid DESC, position DESC LIMIT 1`.pipe(Effect.flatMap(decodeCursorRows))
          if (last === undefined) return 0
          const range = sql`
            (ev.xid, ev.position) > (${cursor.xid}::xid8, ${cursor.position})
            AND (ev.xid, ev.position) <= (${last.xid}::xid8, ${last.position})`
          yield* sql`
            INSERT INTO webhook_endpoint_deliveries (business_id, id, endpoint_id, event_id, next_attempt_at)
            SELECT ev.business_id, gen_random_uuid(), ep.id, ev.id, ${toDate(now)}
            FROM events ev
            JOIN webhook_endpoints ep ON ep.business_id = ev.business_id AND ep.enabled
              AND (cardinality(ep.event_types) = 0 OR ev.type = ANY (ep.event_types))
            WHERE ${range}
            ON CONFLICT (business_id, endpoint_id, event_id) DO NOTHING`
          const [{ count } = { count: 0 }] = yield* sql`
            SELECT count(*)::int AS count FROM events ev WHERE ${range}`.pipe(
            Effect.flatMap(Schema.decodeUnknown(Schema.Array(Schema.Struct({ count: Integer }))))
          )
          yield* sql`UPDATE webhook_fanout_cursor SET xid = ${last.xid}::xid8, position = ${last.position}`
          return count
        })
      )
      .pipe(storage("WebhookDeliveries.fanOut"))

  const claim = (options: {
    readonly owner: string
    readonly now: DateTime.Utc
    readonly leaseMs: number
    readonly limit: number
  }) =>
    Effect.gen(function* () {
      const now = toDate(options.now)
      const until = new Date(now.getTime() + options.leaseMs)
      // One statement, so the lease commits before the caller sends anything.
      const rows = yield* sql`
        WITH due AS (
          SELECT d.business_id, d.id FROM webhook_endpoint_deliveries d
          JOIN webhook_endpoints ep ON ep.business_id = d.business_id AND ep.id = d.endpoint_id AND ep.enabled
          WHERE d.status = 'pending' AND d.next_attempt_at <= ${now}
            AND (d.leased_until IS NULL OR d.leased_until <= ${now})
          ORDER BY d.next_attempt_at
          LIMIT ${options.limit}
          FOR UPDATE OF d SKIP LOCKED
        ), leased AS (
          UPDATE webhook_endpoint_deliveries d
          SET attempts = d.attempts + 1, leased_until = ${until}, lease_owner = ${options.owner}, updated_at = ${now}
          FROM due WHERE d.business_id = due.business_id AND d.id = due.id
          RETURNING d.business_id, d.id, d.endpoint_id, d.event_id, d.attempts, d.attempts_base
        )
        SELECT l.business_id, l.id, l.endpoint_id, l.attempts, l.attempts_base, ep.url, ep.secret_sealed,
          ep.previous_secret_sealed, ep.previous_expires_at, ev.id AS event_id, ev.type, ev.occurred_at,
          ev.conversation_id, ev.sequence, ev.data
        FROM leased l
        JOIN webhook_endpoints ep ON ep.business_id = l.business_id AND ep.id = l.endpoint_id
        JOIN events ev ON ev.id = l.event_id`.pipe(Effect.flatMap(decodeClaimRows))
      return yield* Effect.forEach(rows, (row) =>
        Effect.gen(function* () {
          const context = secretContext(row.business_id, row.endpoint_id)
          const current = yield* secrets.open(row.secret_sealed, context).pipe(Effect.orDie)
          const overlapping =
            row.previous_secret_sealed !== null &&
            row.previous_expires_at !== null &&
            DateTime.greaterThan(row.previous_expires_at, options.now)
          const previous =
            overlapping && row.previous_secret_sealed !== null
              ? [yield* secrets.open(row.previous_secret_sealed, context).pipe(Effect.orDie)]
              : []
          return {
            businessId: row.business_id,
            id: row.id,
            endpointId: row.endpoint_id,
            url: row.url,
            attempt: row.attempts,
            attemptInRun: row.attempts - row.attempts_base,
            secrets: [current, ...previous],
            event: {
              id: row.event_id,
              type: row.type,
              businessId: row.business_id,
              occurredAt: row.occurred_at,
              conversationId: row.conversation_id,
              sequence: row.sequence,
              data: yield* publicData(row.type, row.occurred_at, row.data)
            }
          } satisfies ClaimedDelivery
        })
      )
    }).pipe(storage("WebhookDeliveries.claim"))

  const statusOf = (outcome: Outcome): DeliveryStatus =>
    outcome._tag === "Succeeded"
      ? "succeeded"
      : outcome._tag === "Retry"
        ? "pending"
        : outcome._tag === "Dead"
          ? "dead"
          : "failed"

  const record = (result: AttemptResult, options: { readonly now: DateTime.Utc; readonly circuitAfterMs: number }) =>
    sql
      .withTransaction(
        Effect.gen(function* () {
          const now = toDate(options.now)
          const next = result.outcome._tag === "Retry" ? toDate(result.outcome.at) : now
          const updated = yield* sql`
            UPDATE webhook_endpoint_deliveries SET status = ${statusOf(result.outcome)}, next_attempt_at = ${next},
              leased_until = NULL, lease_owner = NULL, last_status_code = ${result.statusCode},
              last_latency_ms = ${result.latencyMs}, last_error = ${result.error},
              response_excerpt = ${result.responseExcerpt}, updated_at = ${now}
            WHERE business_id = ${result.businessId} AND id = ${result.deliveryId} AND status = 'pending'
              AND lease_owner = ${result.owner} AND attempts = ${result.attempt}
            RETURNING endpoint_id`.pipe(
            Effect.flatMap(Schema.decodeUnknown(Schema.Array(Schema.Struct({ endpoint_id: Schema.String }))))
          )
          const endpointId = updated[0]?.endpoint_id
          if (endpointId === undefined) return { applied: false, endpointDisabled: null }
          yield* sql`
            INSERT INTO webhook_endpoint_attempts (business_id, delivery_id, attempt, started_at, status_code, latency_ms,
              error, response_excerpt)
            VALUES (${result.businessId}, ${result.deliveryId}, ${result.attempt}, ${toDate(result.startedAt)},
              ${result.statusCode}, ${result.latencyMs}, ${result.error}, ${result.responseExcerpt})
            ON CONFLICT DO NOTHING`
          if (result.outcome._tag === "Succeeded") {
            yield* sql`
              UPDATE webhook_endpoints SET failing_since = NULL
              WHERE business_id = ${result.businessId} AND id = ${endpointId} AND failing_since IS NOT NULL`
            return { applied: true, endpointDisabled: null }
          }
          const cutoff = new Date(now.getTime() - options.circuitAfterMs)
          const disabled = yield* sql`
            UPDATE webhook_endpoints SET
              failing_since = coalesce(failing_since, ${toDate(result.startedAt)}),
              enabled = CASE WHEN ${result.outcome._tag === "Gone"}
                OR coalesce(failing_since, ${toDate(result.startedAt)}) <= ${cutoff} THEN false ELSE enabled END,
              disabled_reason = CASE WHEN NOT enabled THEN disabled_reason
                WHEN ${result.outcome._tag === "Gone"} THEN 'gone'
                WHEN coalesce(failing_since, ${toDate(result.startedAt)}) <= ${cutoff} THEN 'failing'
                ELSE NULL END,
              disabled_at = CASE WHEN NOT enabled THEN disabled_at
                WHEN ${result.outcome._tag === "Gone"}
                  OR coalesce(failing_since, ${toDate(result.startedAt)}) <= ${cutoff} THEN ${now}::timestamptz
                ELSE NULL END
            WHERE business_id = ${result.businessId} AND id = ${endpointId}
            RETURNING enabled, disabled_reason, (disabled_at = ${now}::timestamptz) AS just_disabled`.pipe(
            Effect.flatMap(
              Schema.decodeUnknown(
                Schema.Array(
                  Schema.Struct({
                    enabled: Schema.Boolean,
                    disabled_reason: Schema.NullOr(Schema.String),
                    just_disabled: Schema.NullOr(Schema.Boolean)
                  })
                )
              )
            )
          )
          const row = disabled[0]
          return {
            applied: true,
            endpointDisabled:
              row !== undefined && !row.enabled && row.just_disabled === true ? row.disabled_reason : null
          }
        })
      )
      .pipe(storage("WebhookDeliveries.record"))

  const recordSucceeded = (results: ReadonlyArray<AttemptResult>, options: { readonly now: DateTime.Utc }) =>
    results.length === 0
      ? Effect.succeed(0)
      : sql
          .withTransaction(
            Effect.gen(function* () {
              const now = toDate(options.now)
              const column = <A>(f: (r: AttemptResult) => A) => results.map(f)
              const owners = column((r) => r.owner)
              const updated = yield* sql`
                UPDATE webhook_endpoint_deliveries d SET status = 'succeeded', next_attempt_at = ${now},
                  leased_until = NULL, lease_owner = NULL, last_status_code = v.status_code,
                  last_latency_ms = v.latency_ms, last_error = NULL, response_excerpt = v.excerpt, updated_at = ${now}
                FROM unnest(
                  ${column((r) => r.businessId)}::uuid[], ${column((r) => r.deliveryId)}::uuid[],
                  ${column((r) => r.attempt)}::int[], ${owners}::text[], ${column((r) => r.statusCode ?? 0)}::int[],
                  ${column((r) => r.latencyMs)}::int[], ${column((r) => r.responseExcerpt ?? "")}::text[],
                  ${column((r) => DateTime.formatIso(r.startedAt))}::timestamptz[]
                ) AS v (business_id, id, attempt, owner, status_code, latency_ms, excerpt, started_at)
                WHERE d.business_id = v.business_id AND d.id = v.id AND d.status = 'pending'
                  AND d.lease_owner = v.owner AND d.attempts = v.attempt
                RETURNING d.business_id, d.id, d.endpoint_id, v.attempt, v.started_at, v.status_code, v.latency_ms,
                  v.excerpt`.pipe(
                Effect.flatMap(
                  Schema.decodeUnknown(
                    Schema.Array(
                      Schema.Struct({
                        business_id: Schema.String,
                        id: Schema.String,
                        endpoint_id: Schema.String,
                        attempt: Integer,
                        started_at: Timestamp,
                        status_code: Integer,
                        latency_ms: Integer,
                        excerpt: Schema.String
                      })
                    )
                  )
                )
              )
              if (updated.length === 0) return 0
              const of = <A>(f: (r: (typeof updated)[number]) => A) => updated.map(f)
              yield* sql`
                INSERT INTO webhook_endpoint_attempts (business_id, delivery_id, attempt, started_at, status_code,
                  latency_ms, error, response_excerpt)
                SELECT business_id, delivery_id, attempt, started_at, status_code, latency_ms, NULL, excerpt
                FROM unnest(
                  ${of((r) => r.business_id)}::uuid[], ${of((r) => r.id)}::uuid[], ${of((r) => r.attempt)}::int[],
                  ${of((r) => DateTime.formatIso(r.started_at))}::timestamptz[], ${of((r) => r.status_code)}::int[],
                  ${of((r) => r.latency_ms)}::int[], ${of((r) => r.excerpt)}::text[]
                ) AS v (business_id, delivery_id, attempt, started_at, status_code, latency_ms, excerpt)
                ON CONFLICT DO NOTHING`
              yield* sql`
                UPDATE webhook_endpoints e SET failing_since = NULL
                FROM unnest(${of((r) => r.business_id)}::uuid[], ${of((r) => r.endpoint_id)}::uuid[])
                  AS v (business_id, id)
                WHERE e.business_id = v.business_id AND e.id = v.id AND e.failing_since IS NOT NULL`
              return updated.length
            })
          )
          .pipe(storage("WebhookDeliveries.recordSucceeded"))

  const ensureEndpoint = (businessId: BusinessId, endpointId: string) =>
    Effect.gen(function* () {
      if (!isUuid(endpointId)) return yield* new WebhookEndpointNotFound({ endpointId })
      const rows = yield* sql`SELECT id FROM webhook_endpoints WHERE business_id = ${businessId} AND id = ${endpointId}`
      if (rows.length === 0) return yield* new WebhookEndpointNotFound({ endpointId })
    })

  const list = (
    businessId: BusinessId,
    endpointId: string,
    page: { readonly limit: number; readonly cursor?: string | undefined }
  ) =>
    Effect.gen(function* () {
      yield* ensureEndpoint(businessId, endpointId)
      const after = page.cursor === undefined ? undefined : decodeCursor(page.cursor)
      const rows = yield* sql`
        SELECT d.id, d.endpoint_id, d.event_id, ev.type, d.status, d.attempts, d.next_attempt_at,
          d.last_status_code, d.last_latency_ms, d.last_error, d.response_excerpt, d.created_at, d.updated_at
        FROM webhook_endpoint_deliveries d LEFT JOIN events ev ON ev.id = d.event_id
        WHERE d.business_id = ${businessId} AND d.endpoint_id = ${endpointId}
          ${after === undefined ? sql`` : sql`AND (d.created_at, d.id) < (${after.createdAt}, ${after.id}::uuid)`}
        ORDER BY d.created_at DESC, d.id DESC
        LIMIT ${page.limit + 1}`.pipe(Effect.flatMap(decodeListRows))
      const items = rows.slice(0, page.limit)
      const last = items[items.length - 1]
      return {
        items: items.map(
          (row) =>
            new DeliveryJson(
              {
                id: row.id,
                endpointId: row.endpoint_id,
                eventId: row.event_id,
                eventType: row.type ?? "",
                status: row.status,
                attempts: row.attempts,
                nextAttemptAt: row.status === "pending" ? DateTime.formatIso(row.next_attempt_at) : null,
                lastStatusCode: row.last_status_code,
                lastLatencyMs: row.last_latency_ms,
                lastError: row.last_error,
                responseExcerpt: row.response_excerpt,
                createdAt: DateTime.formatIso(row.created_at),
                updatedAt: DateTime.formatIso(row.updated_at)
              },
              true
            )
        ),
        nextCursor: rows.length > page.limit && last !== undefined ? encodeCursor(last.created_at, last.id) : null
      }
    }).pipe(storage("WebhookDeliveries.list"))

  const replay = (businessId: BusinessId, endpointId: string, target: ReplayTarget, now: DateTime.Utc) =>
    Effect.gen(function* () {
      yield* ensureEndpoint(businessId, endpointId)
      if (target._tag === "Event" && !isUuid(target.eventId)) return 0
      const which =
        target._tag === "Event"
          ? sql`ev.id = ${target.eventId}`
          : sql`ev.occurred_at >= ${toDate(target.since)} AND ev.occurred_at < ${toDate(target.until)}`
      const rows = yield* sql`
        INSERT INTO webhook_endpoint_deliveries (business_id, id, endpoint_id, event_id, next_attempt_at)
        SELECT ev.business_id, gen_random_uuid(), ep.id, ev.id, ${toDate(now)}
        FROM events ev
        JOIN webhook_endpoints ep ON ep.business_id = ev.business_id AND ep.id = ${endpointId}
          AND (cardinality(ep.event_types) = 0 OR ev.type = ANY (ep.event_types))
        WHERE ev.business_id = ${businessId} AND ${which}
        ON CONFLICT (business_id, endpoint_id, event_id) DO UPDATE SET
          status = 'pending', next_attempt_at = excluded.next_attempt_at, attempts_base = webhook_endpoint_deliveries.attempts,
          leased_until = NULL, lease_owner = NULL, updated_at = excluded.next_attempt_at
        RETURNING id`
      return rows.length
    }).pipe(storage("WebhookDeliveries.replay"))

  // A bounded batch per statement, oldest first; the hourly reaper calls it until a batch comes back short.
  const purgeFinal = ({ cutoff, limit }: { readonly cutoff: DateTime.Utc; readonly limit: number }) =>
    sql`
      WITH gone AS (
        DELETE FROM webhook_endpoint_deliveries WHERE (business_id, id) IN (
          SELECT business_id, id FROM webhook_endpoint_deliveries
          WHERE status <> 'pending' AND updated_at < ${toDate(cutoff)}
          ORDER BY updated_at LIMIT ${Math.max(0, Math.floor(limit))}
        )
        RETURNING 1
      )
      SELECT count(*)::int AS count FROM gone`.pipe(
      Effect.flatMap(Schema.decodeUnknown(Schema.Array(Schema.Struct({ count: Integer })))),
      Effect.map((rows) => rows[0]?.count ?? 0),
      storage("WebhookDeliveries.purgeFinal")
    )

  return WebhookDeliveries.of({ fanOut, claim, record, recordSucceeded, list, replay, purgeFinal })
})

export const layer: Layer.Layer<WebhookDeliveries, never, SqlClient.SqlClient | Secrets> = Layer.effect(
  WebhookDeliveries,
  make
)
