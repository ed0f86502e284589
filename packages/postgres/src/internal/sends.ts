/**
 * The send path's writes of `MessageRepository`: recording an outbound message, marking it sent or failed. Each
 * records its event in the statement of its change (data-modifying CTEs, the event's data in its storage form:
 * internal/events.ts), so an event costs the send no round trip; `SqlMessageRepository` holds the rest and the
 * rules the two share (the provider id's advisory lock, parked statuses: see its header).
 */

import type { Statement } from "@effect/sql"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import {
  type BusinessId,
  type DeliveryFailure,
  deliveryStatusRank,
  type Ids,
  type Message,
  type MessageId,
  type OutboundRecord
} from "@parley/core"
import { Array as Arr, DateTime, Effect, Option, type ParseResult } from "effect"
import { qualified, rankOf, toDate } from "./columns.js"
import { storedMessageData } from "./events.js"
import { eventsRecorded, notifying } from "./notifier.js"
import { prepared } from "./prepared.js"
import { conversationColumns, decodeConversations, decodeMessages, messageColumns } from "./rows.js"
import { lastRows, script } from "./script.js"
import { storage, storageFailure } from "./storage.js"

/** What the writes take from the repository they belong to. */
export interface SendWriteContext {
  readonly sql: SqlClient.SqlClient
  readonly ids: Ids["Type"]
  /** The message's row as a VALUES tuple. */
  readonly row: (message: Message) => Statement.Statement<unknown>
  readonly select: (
    businessId: BusinessId,
    id: MessageId
  ) => Effect.Effect<Option.Option<Message>, SqlError | ParseResult.ParseError>
  /** The provider id's advisory lock, the same one `applyStatus` takes. */
  readonly lockProviderId: (businessId: BusinessId, providerMessageId: string) => Statement.Statement<unknown>
  /** The driver takes several statements in one query string (node-postgres; not PGlite): see script.ts. */
  readonly scripts: boolean
}

export const makeSendWrites = (context: SendWriteContext) => {
  const { sql, ids, row, select, lockProviderId, scripts } = context
  const columns = sql.literal(messageColumns)
  const rank = rankOf(sql, "delivery_status")
  const first = (rows: ReadonlyArray<unknown>) => Effect.map(decodeMessages(rows), Arr.head)
  const qualifiedConversationColumns = qualified("c", conversationColumns)
  const qualifiedMessageColumns = qualified("m", messageColumns)

  /**
   * One statement, so atomic without a transaction: the message, its conversation's change, the idempotency key's
   * link and the `message.sent` event (with its conversation's next sequence) are data-modifying
   * CTEs of one INSERT. The foreign key from the message to its conversation makes a missing conversation fail the
   * whole statement. The event stores the statement's rows (internal/events.ts), its readers build the JSON.
   */
  const recordOutbound = (record: OutboundRecord) => {
    const { message } = record
    const at = toDate(message.createdAt)
    const link = Option.match(record.idempotencyKey, {
      onNone: () => sql``,
      onSome: (key) => sql`, linked AS (
        UPDATE idempotency_keys k SET message_id = i.id FROM inserted i
        WHERE k.business_id = i.business_id AND k.key = ${key}
        RETURNING k.key
      )`
    })
    return Effect.gen(function* () {
      const eventId = yield* ids.uuid
      const now = yield* DateTime.now
      const touched = yield* sql`${prepared(sql)}
        WITH inserted AS (
          INSERT INTO messages (${columns}) VALUES ${row(message)}
          RETURNING ${columns}
        ), touched AS (
          UPDATE conversations c SET
            status = 'pending_customer',
            last_outbound_at = GREATEST(c.last_outbound_at, ${at}::timestamptz),
            last_activity_at = GREATEST(c.last_activity_at, ${at}::timestamptz),
            event_sequence = c.event_sequence + 1
          FROM inserted i
          WHERE c.business_id = i.business_id AND c.id = i.conversation_id
          RETURNING ${sql.literal(qualifiedConversationColumns)}, c.event_sequence
        )${link}, recorded AS (
          INSERT INTO events (id, business_id, type, conversation_id, sequence, occurred_at, data)
          SELECT ${eventId}::uuid, t.business_id, 'message.sent', t.id, t.event_sequence, ${toDate(now)}::timestamptz,
            ${storedMessageData(sql, "to_jsonb(i)", "to_jsonb(t) - 'event_sequence'")}
          FROM touched t JOIN inserted i ON i.conversation_id = t.id
          RETURNING business_id
        )
        SELECT ${sql.literal(qualified("t", conversationColumns))}, (SELECT count(*) FROM recorded) AS recorded
        FROM touched t`.pipe(Effect.flatMap(decodeConversations))
      if (touched[0] === undefined) {
        return yield* storageFailure("MessageRepository.recordOutbound", "the message's conversation does not exist")
      }
      // Committed (one statement): followers wake in the next window.
      yield* eventsRecorded(sql, [message.businessId])
      return message
    }).pipe(storage("MessageRepository.recordOutbound"))
  }

  /**
   * The provider id's advisory lock first, alone: each statement after it reads a snapshot taken once the lock is
   * held, so a status parked by a transaction that held the lock before us is visible (one statement cannot see a
   * row committed while it waited on a lock). Then one statement does the rest: it locks the message row, drains
   * the parked statuses (only if the message exists), sets the provider id and the status (`sent`, or the best
   * parked status above it, with its failure, as `raise` would), and records `message.status_updated` when the
   * status moved, with the conversation's next sequence; followers are woken once it commits (notifier.ts).
   *
   * On node-postgres the two statements go as one script (script.ts): one round trip, one implicit transaction
   * that holds the lock to its end, and the second statement's snapshot still taken after the lock. Otherwise (PGlite)
   * a transaction: BEGIN, the lock, the statement, COMMIT.
   */
  const markSent = (businessId: BusinessId, id: MessageId, providerMessageId: string, idempotencyKey?: string) =>
    Effect.gen(function* () {
      const eventId = yield* ids.uuid
      const now = yield* DateTime.now
      const lock = lockProviderId(businessId, providerMessageId)
      const update = sentUpdate(businessId, id, providerMessageId, eventId, now, idempotencyKey)
      const text = scripts ? script([lock, update]) : undefined
      if (text !== undefined) {
        const rows = lastRows(yield* sql.unsafe<object>(text))
        if (rows === undefined) {
          return yield* storageFailure(
            "MessageRepository.markSent",
            "the driver did not answer one result per statement"
          )
        }
        const updated = yield* first(rows)
        // Committed (one implicit transaction), unless inside the caller's: eventsRecorded knows which.
        if (Option.isSome(updated)) yield* eventsRecorded(sql, [businessId])
        return updated
      }
      return yield* sql
        .withTransaction(
          Effect.gen(function* () {
            yield* lock
            return yield* update.pipe(
              Effect.flatMap(first),
              Effect.tap((updated) => (Option.isSome(updated) ? eventsRecorded(sql, [businessId]) : Effect.void))
            )
          })
        )
        .pipe(notifying(sql))
    }).pipe(storage("MessageRepository.markSent"))

  /**
   * markSent's statement, run once the provider id's lock is held. With a key, it also completes the key with the
   * message as marked, in the storage form (the row, as events store it) that `SqlIdempotencyStore` reads back as
   * `Sent`: SQL cannot build the outcome's JSON, whose one source is the core's schema.
   */
  const sentUpdate = (
    businessId: BusinessId,
    id: MessageId,
    providerMessageId: string,
    eventId: string,
    now: DateTime.Utc,
    idempotencyKey: string | undefined
  ) => {
    const sentRank = deliveryStatusRank("sent")
    const completion =
      idempotencyKey === undefined
        ? sql``
        : sql`completed AS (
            UPDATE idempotency_keys k SET
              outcome = ${storedMessageData(sql, "to_jsonb(u) - 'previous_status'")},
              message_id = u.id,
              completed_at = now()
            FROM updated u
            WHERE k.business_id = ${businessId} AND k.key = ${idempotencyKey}
            RETURNING k.key
          ),`
    return sql`
      WITH previous AS (
        SELECT id, delivery_status FROM messages
        WHERE business_id = ${businessId} AND id = ${id} FOR UPDATE
      ), parked AS (
        UPDATE message_status_events SET parked = false
        WHERE business_id = ${businessId} AND provider_message_id = ${providerMessageId} AND parked
          AND EXISTS (SELECT 1 FROM previous)
        RETURNING status, failure_code, failure_title
      ), best AS (
        SELECT status, failure_code, failure_title FROM parked
        ORDER BY ${rankOf(sql, "status")} DESC LIMIT 1
      ), next AS (
        SELECT p.id, p.delivery_status AS previous_status, b.status AS parked_status, b.failure_code,
          b.failure_title,
          CASE WHEN ${rankOf(sql, "p.delivery_status")} < ${sentRank} THEN 'sent'
            ELSE p.delivery_status END AS after_sent
        FROM previous p LEFT JOIN best b ON true
      ), final AS (
        SELECT id, previous_status, failure_code, failure_title,
          parked_status IS NOT NULL
            AND ${rankOf(sql, "parked_status")} > ${rankOf(sql, "after_sent")} AS drained,
          CASE WHEN parked_status IS NOT NULL
            AND ${rankOf(sql, "parked_status")} > ${rankOf(sql, "after_sent")}
            THEN parked_status ELSE after_sent END AS status
        FROM next
      ), updated AS (
        UPDATE messages m SET
          provider_message_id = ${providerMessageId},
          delivery_status = f.status,
          failure_code = CASE WHEN NOT f.drained THEN m.failure_code
            WHEN f.status = 'failed' AND f.failure_code IS NOT NULL THEN f.failure_code END,
          failure_title = CASE WHEN NOT f.drained THEN m.failure_title
            WHEN f.status = 'failed' AND f.failure_code IS NOT NULL THEN coalesce(f.failure_title, '') END
        FROM final f
        WHERE m.business_id = ${businessId} AND m.id = f.id
        RETURNING f.previous_status, ${sql.literal(qualifiedMessageColumns)}
      ), ${completion} ${statusEventCtes(eventId, now)}
      SELECT u.*, (SELECT count(*) FROM recorded) AS recorded
      FROM updated u`
  }

  /**
   * The CTEs that record `message.status_updated` for each row of the CTE `updated` (a messages row and its
   * `previous_status`, NULL when unknown but certainly another) whose status moved: the conversation's next sequence, the event (storage form), and
   * `recorded`, which the main SELECT counts.
   */
  const statusEventCtes = (eventId: string, now: DateTime.Utc) => sql`
    bumped AS (
      UPDATE conversations c SET event_sequence = c.event_sequence + 1
      FROM updated u
      WHERE c.business_id = u.business_id AND c.id = u.conversation_id AND u.delivery_status IS DISTINCT FROM u.previous_status
      RETURNING c.id, c.event_sequence
    ), recorded AS (
      INSERT INTO events (id, business_id, type, conversation_id, sequence, occurred_at, data)
      SELECT ${eventId}::uuid, u.business_id, 'message.status_updated', u.conversation_id, b.event_sequence,
        ${toDate(now)}::timestamptz, ${storedMessageData(sql, "to_jsonb(u) - 'previous_status'")}
      FROM updated u JOIN bumped b ON b.id = u.conversation_id
      RETURNING business_id
    )`

  /**
   * One statement: the status, and its event. As in applyStatus, a row that reads below `failed` after the UPDATE
   * missed it is tried again.
   */
  const markFailed = (businessId: BusinessId, id: MessageId, failure: DeliveryFailure) => {
    const attempt: Effect.Effect<Option.Option<Message>, SqlError | ParseResult.ParseError> = Effect.gen(function* () {
      const eventId = yield* ids.uuid
      const now = yield* DateTime.now
      const updated = yield* sql`
        WITH updated AS (
          UPDATE messages m SET delivery_status = 'failed', failure_code = ${failure.code},
            failure_title = ${failure.title}
          WHERE business_id = ${businessId} AND id = ${id} AND ${rank} < ${deliveryStatusRank("failed")}
          RETURNING ${sql.literal(qualifiedMessageColumns)}, NULL::text AS previous_status
        ), ${statusEventCtes(eventId, now)}
        SELECT u.*, (SELECT count(*) FROM recorded) AS recorded
        FROM updated u`.pipe(Effect.flatMap(first))
      if (Option.isSome(updated)) {
        // Committed (one statement): followers wake in the next window.
        yield* eventsRecorded(sql, [businessId])
        return updated
      }
      const current = yield* select(businessId, id)
      return Option.isSome(current) && current.value.deliveryStatus !== "failed" ? yield* attempt : current
    })
    return attempt.pipe(storage("MessageRepository.markFailed"))
  }

  return { recordOutbound, markSent, markFailed }
}
