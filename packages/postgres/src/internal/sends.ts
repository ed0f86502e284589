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
import { eventsRecorded } from "./notifier.js"
import { prepared } from "./prepared.js"
import { conversationColumns, decodeConversations, decodeMessages, messageColumns } from "./rows.js"
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
  /** The key of the provider id's advisory lock, the same one `applyStatus` takes. */
  readonly lockKey: (businessId: BusinessId, providerMessageId: string) => string
}

export const makeSendWrites = (context: SendWriteContext) => {
  const { sql, ids, row, select, lockKey } = context
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
   * One call of `parley_mark_sent` (migration 0016), a prepared statement: under the provider id's advisory lock
   * (the one `applyStatus` takes, taken first so the rest reads a snapshot in which a status parked by the lock's
   * previous holder is visible), it locks the message row, drains the parked statuses, sets the provider id and the
   * status (`sent`, or the best parked status above it, with its failure, as `raise` would), completes the
   * Idempotency-Key with the marked row when one is given (the storage form that `SqlIdempotencyStore` reads back as
   * `Sent`), and records `message.status_updated` when the status moved, with the conversation's next sequence.
   * One statement, so one implicit transaction, on either driver; followers are woken once it commits
   * (notifier.ts), or once the caller's transaction does when there is one.
   */
  const markSent = (businessId: BusinessId, id: MessageId, providerMessageId: string, idempotencyKey?: string) =>
    Effect.gen(function* () {
      const eventId = yield* ids.uuid
      const now = yield* DateTime.now
      const updated = yield* sql`${prepared(sql)} SELECT * FROM parley_mark_sent(
          ${businessId}::uuid, ${id}::uuid, ${providerMessageId}::text, ${lockKey(businessId, providerMessageId)}::text,
          ${eventId}::uuid, ${toDate(now)}::timestamptz, ${idempotencyKey ?? null}::text)`.pipe(Effect.flatMap(first))
      if (Option.isSome(updated)) yield* eventsRecorded(sql, [businessId])
      return updated
    }).pipe(storage("MessageRepository.markSent"))

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
