/**
 * Recording events atomically with the change they describe (the transactional outbox), for every write of the
 * repositories, in one of two ways:
 * - `recordEvents`: one more statement in the change's transaction, for any number of events, with its data built
 *   here from the core's models;
 * - on the send path (an outbound message recorded, marked sent or failed), the change's own statement records its
 *   event in data-modifying CTEs, so the event costs no round trip: the data is then stored in a storage form (the
 *   statement's rows, `storedMessageData`) that the readers turn into the public JSON (`publicData`).
 * Either way the write then names the businesses to `notifier.ts`, which wakes followers on every process once it
 * has committed (not from inside the transaction: see there why).
 */
import type { Statement } from "@effect/sql"
import type * as SqlClient from "@effect/sql/SqlClient"
import { Events, Ids, type Message, type StorageError, uuidV7 } from "@parley/core"
import { DateTime, Effect, Option, type ParseResult } from "effect"
import { json, toDate } from "./columns.js"
import { eventsRecorded } from "./notifier.js"
import { decodeConversations, decodeMessages } from "./rows.js"
import { storageFailure } from "./storage.js"

/**
 * Where event ids come from: the host's `Ids` when it provides one to the storage layers, else time-ordered
 * UUIDv7 (the production choice), so the storage layers need nothing more than before.
 */
export const eventIds = Effect.map(
  Effect.serviceOption(Ids),
  Option.getOrElse(() => uuidV7)
)

/**
 * Records `pending` (in order) with ids, the clock's time, and each conversation's next sequences, which the same
 * statement takes by bumping `conversations.event_sequence` (holding the row lock until commit). Must run inside
 * the caller's transaction; a conversation that does not exist fails the statement (the CHECK on `sequence`).
 */
export const recordEvents = (sql: SqlClient.SqlClient, ids: Ids["Type"], pending: ReadonlyArray<Events.PendingEvent>) =>
  Effect.gen(function* () {
    if (pending.length === 0) return
    const now = yield* DateTime.now
    const rows = yield* Effect.forEach(pending, (event, ord) =>
      Effect.map(ids.uuid, (id) => ({
        ord,
        id,
        business_id: event.businessId,
        type: event.type,
        conversation_id: event.conversationId,
        data: event.data
      }))
    )
    // One round trip: the sequences and the rows. The wake-ups go out once the write has committed (notifier.ts).
    yield* sql`
      WITH input AS (
        SELECT * FROM jsonb_to_recordset(${json(rows)}::jsonb)
          AS x(ord integer, id uuid, business_id uuid, type text, conversation_id uuid, data jsonb)
      ), counts AS (
        SELECT business_id, conversation_id, count(*) AS n FROM input
        WHERE conversation_id IS NOT NULL GROUP BY business_id, conversation_id
      ), bumped AS (
        UPDATE conversations c SET event_sequence = c.event_sequence + counts.n
        FROM counts WHERE c.business_id = counts.business_id AND c.id = counts.conversation_id
        RETURNING c.id, c.event_sequence - counts.n AS base
      ), inserted AS (
        INSERT INTO events (id, business_id, type, conversation_id, sequence, occurred_at, data)
        SELECT i.id, i.business_id, i.type, i.conversation_id,
          b.base + row_number() OVER (PARTITION BY i.conversation_id ORDER BY i.ord),
          ${toDate(now)}::timestamptz, i.data
        FROM input i LEFT JOIN bumped b ON b.id = i.conversation_id
        ORDER BY i.ord
        RETURNING 1
      )
      SELECT count(*) FROM inserted`
    yield* eventsRecorded(
      sql,
      pending.map((event) => event.businessId)
    )
  })

// ---------------------------------------------------------------------------------------------------------------
// Events recorded by the statement of their change

/**
 * The storage form of a message event's `data` when the statement that makes the change also records its event:
 * the rows as the statement returns them (`to_jsonb`), under this key, since SQL cannot build the API's JSON (the
 * one source of it is the core's `Representation`). The readers turn it into the public shape with `publicData`,
 * so no reader ever sees this form. No public `data` has this key.
 */
const rowsKey = "$rows"

/**
 * The storage form from the statement's row expressions (a `messages` row, and a `conversations` row when the
 * change touched its conversation).
 */
export const storedMessageData = (
  sql: SqlClient.SqlClient,
  message: string,
  conversation?: string
): Statement.Fragment =>
  sql.literal(
    `jsonb_build_object('${rowsKey}', jsonb_build_object('message', ${message}${
      conversation === undefined ? "" : `, 'conversation', ${conversation}`
    }))`
  )

const messageTypes: ReadonlyArray<string> = ["message.received", "message.sent", "message.status_updated"]
const isMessageType = (type: string): type is "message.received" | "message.sent" | "message.status_updated" =>
  messageTypes.includes(type)

const record = (value: unknown): Record<string, unknown> | undefined =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined

/**
 * A row as `to_jsonb` wrote it, as the driver would have returned it: timestamps are ISO text in JSON (in the
 * session's time zone, with its offset) and Dates from the driver. Anything else is left for the row decoder.
 */
const asDriverRow = (row: Record<string, unknown>, times: ReadonlyArray<string>): Record<string, unknown> => {
  const copy = { ...row }
  for (const column of times) {
    const value = copy[column]
    if (typeof value === "string") copy[column] = new Date(value)
  }
  return copy
}

const messageTimes = ["created_at"]
const conversationTimes = ["last_inbound_at", "last_outbound_at", "last_activity_at", "created_at"]

const firstOf = <A>(rows: ReadonlyArray<A>): Effect.Effect<A, StorageError> => {
  const head = rows[0]
  return head === undefined
    ? Effect.fail(storageFailure("events", "a stored event's row is missing"))
    : Effect.succeed(head)
}

/** A messages row as a storage form holds it, decoded as every read decodes a row. */
const storedRow = (row: Record<string, unknown>) =>
  Effect.flatMap(decodeMessages([asDriverRow(row, messageTimes)]), firstOf)

/**
 * The message of a storage form written by `storedMessageData` (an idempotency key's outcome completed by
 * `markSent`), decoded as every read decodes a row; `None` for any other JSON.
 */
export const storedMessage = (
  data: unknown
): Effect.Effect<Option.Option<Message>, ParseResult.ParseError | StorageError> => {
  const messageRow = record(record(record(data)?.[rowsKey])?.message)
  if (messageRow === undefined) return Effect.succeed(Option.none())
  return Effect.map(storedRow(messageRow), Option.some)
}

/**
 * An event's `data` as every reader serves it: the stored public JSON as it is, or the storage form above decoded
 * with the same row decoders as every read and turned into JSON by the core's own event builder, with the window
 * computed as of the event's time (as when the data is built at recording).
 */
export const publicData = (
  type: string,
  occurredAt: DateTime.Utc,
  data: unknown
): Effect.Effect<unknown, ParseResult.ParseError | StorageError> => {
  const rows = record(record(data)?.[rowsKey])
  if (rows === undefined) return Effect.succeed(data)
  if (!isMessageType(type)) return Effect.fail(storageFailure("events", "a stored event's form does not fit its type"))
  const messageRow = record(rows.message)
  if (messageRow === undefined) return Effect.fail(storageFailure("events", "a stored event has no message row"))
  const conversationRow = record(rows.conversation)
  return Effect.gen(function* () {
    const message = yield* storedRow(messageRow)
    const conversation =
      conversationRow === undefined
        ? undefined
        : yield* Effect.flatMap(decodeConversations([asDriverRow(conversationRow, conversationTimes)]), firstOf)
    return Events.messageEvent(type, message, conversation, occurredAt).data
  })
}
