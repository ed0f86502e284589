/**
 * `EventLog` over a `SqlClient`: the `events` table (migration 0010), which the repositories fill in the
 * transactions of their changes.
 *
 * Commit-safe order: a row is served only once its transaction is older than every transaction still running
 * (`xid < pg_snapshot_xmin(pg_current_snapshot())`), and rows are ordered by `(xid, position)`; a cursor is that
 * pair. A transaction that commits late has an xid at or above the horizon until it commits, so it is never stepped
 * over. The horizon is the server's: a transaction left open anywhere on the server holds the feed back until it
 * ends (keep transactions short; see docs/events.md).
 *
 * Followers read the feed again when `EventNotifications` wakes them (a commit anywhere), and every `pollInterval`
 * as a backstop.
 *
 * The statements select `xid::text AS xid` (the cursor's text) and so must order by `events.xid`: a bare `xid` in
 * ORDER BY names the text output column, whose order breaks where the xid gains a digit (999 < 1000 but "999" >
 * "1000"), and a page would then repeat or skip events.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import {
  type BusinessId,
  EventLog,
  type EventLog as EventLogPort,
  type EventQuery,
  Events,
  follow,
  followBatch,
  InvalidCursor,
  IsoTime,
  type RecordedEvent
} from "@parley/core"
import { Duration, Effect, Layer, Option, Queue, Schema } from "effect"
import { EventNotifications } from "./EventNotifications.js"
import { Integer, Timestamp, toDate } from "./internal/columns.js"
import { publicData } from "./internal/events.js"
import { storage } from "./internal/storage.js"

const EventRow = Schema.Struct({
  position: Integer,
  xid: Schema.String,
  id: Schema.String,
  business_id: Schema.String,
  type: Schema.String,
  conversation_id: Schema.NullOr(Schema.String),
  sequence: Schema.NullOr(Integer),
  occurred_at: Timestamp,
  recorded_at: Timestamp,
  data: Schema.Unknown
})
const decodeRows = Schema.decodeUnknown(Schema.Array(EventRow))
const decodeEvent = Schema.decodeUnknown(Events.Event)

const CursorRow = Schema.Struct({ position: Integer, xid: Schema.String })
const decodeCursorRows = Schema.decodeUnknown(Schema.Array(CursorRow))

const CountRow = Schema.Struct({ count: Integer })
const decodeCount = Schema.decodeUnknown(Schema.Array(CountRow))

/** `<xid>.<position>`, both decimal. */
const cursorOf = (row: { readonly xid: string; readonly position: number }) => `${row.xid}.${row.position}`
const cursorPattern = /^([0-9]{1,20})\.([1-9][0-9]{0,18})$/

const parseCursor = (cursor: string) => {
  const match = cursorPattern.exec(cursor)
  return match?.[1] === undefined || match[2] === undefined
    ? Effect.fail(new InvalidCursor({ cursor: cursor.slice(0, 200) }))
    : Effect.succeed({ xid: match[1], position: match[2] })
}

export interface SqlEventLogOptions {
  /** How often a follower reads the feed without a wake-up (the backstop for a lost notification). Default 2 s. */
  readonly pollInterval?: Duration.DurationInput | undefined
}

export const make = (options: SqlEventLogOptions = {}) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const notifications = yield* Effect.serviceOption(EventNotifications)
    // Everything below reads the horizon of its own statement: rows of transactions still running are not served.
    const horizon = sql`xid < pg_snapshot_xmin(pg_current_snapshot())`

    const read = (businessId: BusinessId, query: EventQuery) =>
      Effect.gen(function* () {
        const after = Option.isSome(query.after) ? Option.some(yield* parseCursor(query.after.value)) : Option.none()
        const types = query.types === undefined || query.types.length === 0 ? undefined : query.types
        const rows = yield* sql`
          SELECT position, xid::text AS xid, id, business_id, type, conversation_id, sequence, occurred_at,
            recorded_at, data
          FROM events
          WHERE business_id = ${businessId} AND ${horizon}
            ${Option.isSome(after) ? sql`AND (xid, position) > (${after.value.xid}::xid8, ${after.value.position}::bigint)` : sql``}
            ${types === undefined ? sql`` : sql`AND type IN ${sql.in(types)}`}
          ORDER BY events.xid, events.position
          LIMIT ${Math.max(0, Math.floor(query.limit))}`.pipe(Effect.flatMap(decodeRows))
        return yield* Effect.forEach(rows, (row) =>
          publicData(row.type, row.occurred_at, row.data).pipe(
            Effect.flatMap((data) =>
              decodeEvent({
                id: row.id,
                type: row.type,
                businessId: row.business_id,
                occurredAt: IsoTime.format(row.occurred_at),
                conversationId: row.conversation_id,
                sequence: row.sequence,
                data
              })
            ),
            Effect.map((event): RecordedEvent => ({ cursor: cursorOf(row), recordedAt: row.recorded_at, event }))
          )
        )
      }).pipe(storage("EventLog.read"))

    const head = (businessId: BusinessId) =>
      sql`
        SELECT position, xid::text AS xid FROM events
        WHERE business_id = ${businessId} AND ${horizon}
        ORDER BY events.xid DESC, events.position DESC
        LIMIT 1`.pipe(
        Effect.flatMap(decodeCursorRows),
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), cursorOf)),
        storage("EventLog.head")
      )

    const wakeups = Option.match(notifications, {
      onSome: (service) => service.subscribe,
      // No notifications (a bare SqlClient): the poll alone.
      onNone: () => Queue.sliding<string>(1)
    })

    const service: EventLogPort["Type"] = {
      read,
      head,
      subscribe: (businessId, { after, types }) =>
        follow({
          read: (cursor) => read(businessId, { after: cursor, types, limit: followBatch }),
          head: head(businessId),
          after,
          wakeups,
          pollInterval: options.pollInterval ?? Duration.seconds(2)
        }),
      // Oldest first through the recorded_at index, a bounded batch at a time. An event that an outbound webhook
      // delivery still has to send (`pending`, first try or retry) is kept: the claim joins `events`, so deleting it
      // would leave the delivery never sent and never failed. The pending deliveries are few (the queue, through its
      // partial index), so the anti-join reads them, not the history.
      purge: ({ cutoff, limit }) =>
        sql`
          WITH gone AS (
            DELETE FROM events WHERE position IN (
              SELECT ev.position FROM events ev
              WHERE ev.recorded_at < ${toDate(cutoff)}
                AND NOT EXISTS (
                  SELECT 1 FROM webhook_endpoint_deliveries d
                  WHERE d.status = 'pending' AND d.business_id = ev.business_id AND d.event_id = ev.id
                )
              ORDER BY ev.recorded_at LIMIT ${Math.max(0, Math.floor(limit))}
            )
            RETURNING 1
          )
          SELECT count(*) AS count FROM gone`.pipe(
          Effect.flatMap(decodeCount),
          Effect.map((rows) => rows[0]?.count ?? 0),
          storage("EventLog.purge")
        )
    }
    return EventLog.of(service)
  })

export const layer = (options: SqlEventLogOptions = {}): Layer.Layer<EventLog, never, SqlClient.SqlClient> =>
  Layer.effect(EventLog, make(options))
