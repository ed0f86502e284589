/**
 * `MessageRepository` over a `SqlClient`. Each write is one transaction with the conversation change it implies;
 * inbound dedupe is the unique (business_id, provider_message_id) index; a delivery status only ever raises a
 * message's rank, in one UPDATE whose WHERE clause compares ranks, so racing webhooks cannot move it backwards.
 *
 * A status whose provider id no message has yet is parked in `message_status_events` and applied when the id is
 * recorded (`markSent`, or a later status carrying our message id). Parking and recording the id both take a
 * transaction-scoped advisory lock on (business, provider id): without it, a status parked while `markSent` is
 * between its two statements would be seen by neither and lost. The send path's writes (`recordOutbound`,
 * `markSent`, `markFailed`) are in `internal/sends.ts`.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { PgClient } from "@effect/sql-pg"
import {
  type BusinessId,
  type Conversation,
  type ConversationId,
  ConversationRepository,
  type Cursor,
  type DeliveryFailure,
  type DeliveryStatus,
  deliveryStatusRank,
  Events,
  type InboundRecord,
  InboundRecorded,
  type Message,
  Message as MessageClass,
  type MessageId,
  MessageRepository,
  StatusApplied,
  type StatusUpdate
} from "@parley/core"
import { Array as Arr, DateTime, Effect, Layer, Option, type ParseResult, Schema } from "effect"
import { Integer, json, rankOf, toDate } from "./internal/columns.js"
import { eventIds, recordEvents } from "./internal/events.js"
import { makeRecordInboundBatch } from "./internal/inboundBatch.js"
import { notifying } from "./internal/notifier.js"
import { conversationColumns, decodeConversations, decodeMessages, messageColumns } from "./internal/rows.js"
import { eachRows, script } from "./internal/script.js"
import { makeSendWrites } from "./internal/sends.js"
import { storage, storageFailure } from "./internal/storage.js"
import { byIdStatement } from "./SqlConversationRepository.js"

const ParkedRow = Schema.Struct({
  status: Schema.Literal("sent", "delivered", "read", "failed"),
  failure_code: Schema.NullOr(Integer),
  failure_title: Schema.NullOr(Schema.String)
})
const decodeParkedRows = Schema.decodeUnknown(Schema.Array(ParkedRow))

const statusLiteral = Schema.Literal("pending", "sent", "delivered", "read", "failed")
const RaisedRow = Schema.Struct({ raised: Schema.Boolean, previous_status: statusLiteral })
const decodeRaisedRows = Schema.decodeUnknown(Schema.Array(RaisedRow))

const IdRow = Schema.Struct({ id: Schema.String })
const decodeIdRows = Schema.decodeUnknown(Schema.Array(IdRow))

/** The key of a provider id's advisory lock, taken by `applyStatus` and by `markSent` (migration 0016). */
const providerLockKey = (businessId: BusinessId, providerMessageId: string) => `${businessId}:${providerMessageId}`

/** The statement behind `listByConversation` (newest first, keyset), exported for `scripts/explain.ts`. */
export const historyStatement = (
  sql: SqlClient.SqlClient,
  businessId: BusinessId,
  conversationId: ConversationId,
  page: { readonly before?: Cursor.Position; readonly limit: number }
) => sql`
  SELECT ${sql.literal(messageColumns)} FROM messages
  WHERE business_id = ${businessId} AND conversation_id = ${conversationId}
    ${page.before === undefined ? sql`` : sql`AND (created_at, id) < (${toDate(page.before.at)}, ${page.before.id})`}
  ORDER BY created_at DESC, id DESC
  LIMIT ${Math.max(0, Math.floor(page.limit))}`

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  /** A transaction whose recorded events wake followers once it commits (internal/notifier.ts). */
  const transaction = <A, E, R>(write: Effect.Effect<A, E, R>) => notifying(sql)(sql.withTransaction(write))
  const conversations = yield* ConversationRepository
  const ids = yield* eventIds
  // node-postgres (its PgClient is in context) takes several statements in one query string; PGlite's client not.
  const scripts = Option.isSome(yield* Effect.serviceOption(PgClient.PgClient))

  /** Records message events in the current transaction (see internal/events.ts). */
  const messageEvents = (
    type: "message.received" | "message.sent" | "message.status_updated",
    changes: ReadonlyArray<{ readonly message: Message; readonly conversation?: Conversation | undefined }>
  ) =>
    Effect.flatMap(DateTime.now, (now) =>
      recordEvents(
        sql,
        ids,
        changes.map((change) => Events.messageEvent(type, change.message, change.conversation, now))
      )
    )
  /** `message.status_updated` when the change moved the message's status. */
  const statusEvent = (previous: DeliveryStatus, message: Message) =>
    previous === message.deliveryStatus ? Effect.void : messageEvents("message.status_updated", [{ message }])
  const columns = sql.literal(messageColumns)
  const rank = rankOf(sql, "delivery_status")

  const first = (rows: ReadonlyArray<unknown>) => Effect.map(decodeMessages(rows), Arr.head)

  const select = (businessId: BusinessId, id: MessageId) =>
    sql`SELECT ${columns} FROM messages WHERE business_id = ${businessId} AND id = ${id}`.pipe(Effect.flatMap(first))

  const selectByProviderId = (businessId: BusinessId, providerMessageId: string) =>
    sql`
      SELECT ${columns} FROM messages
      WHERE business_id = ${businessId} AND provider_message_id = ${providerMessageId}`.pipe(Effect.flatMap(first))

  /** A message's row as a VALUES tuple (typed, so a multi-row VALUES needs no guessing by the drivers). */
  const row = (message: Message) => sql`(
      ${message.businessId}::uuid, ${message.id}::uuid, ${message.conversationId}::uuid, ${message.direction}::text,
      ${message.messageType}::text, ${message.text}::text,
      ${message.template === null ? null : json(message.template)}::jsonb,
      ${message.media === null ? null : json(message.media)}::jsonb,
      ${message.content === null ? null : json(message.content)}::jsonb, ${message.replyToProviderMessageId}::text,
      ${message.deliveryStatus}::text, ${message.providerMessageId}::text, ${message.failure?.code ?? null}::integer,
      ${message.failure?.title ?? null}::text, ${toDate(message.createdAt)}::timestamptz
    )`

  const insert = (message: Message) => sql`INSERT INTO messages (${columns}) VALUES ${row(message)}`

  const recordInbound = (input: InboundRecord) => {
    const candidate = input.conversation
    const at = toDate(input.message.createdAt)
    return transaction(
      Effect.gen(function* () {
        if (candidate.businessId !== input.message.businessId) {
          return yield* storageFailure("MessageRepository.recordInbound", "the conversation is another business's")
        }
        // A redelivered message changes nothing, not even by creating its sender's conversation (a wamid reused
        // by another customer would otherwise leave that customer a conversation without messages).
        if (input.message.providerMessageId !== null) {
          const stored = yield* sql`
              SELECT id FROM messages
              WHERE business_id = ${input.message.businessId}
                AND provider_message_id = ${input.message.providerMessageId}`.pipe(Effect.flatMap(decodeIdRows))
          const id = stored[0]?.id
          if (id !== undefined) return InboundRecorded.Duplicate({ messageId: id as MessageId })
        }
        // The usual case is a conversation that exists; a new customer's is stored here, in this transaction, so
        // a failure below can never leave it without its first message.
        const known = yield* sql`
            SELECT id FROM conversations WHERE business_id = ${candidate.businessId} AND id = ${candidate.id}`
        const conversationId = known.length > 0 ? candidate.id : (yield* conversations.findOrCreate(candidate)).id
        const message =
          conversationId === input.message.conversationId
            ? input.message
            : new MessageClass({ ...input.message, conversationId }, true)
        const inserted = yield* sql`
            ${insert(message)}
            ON CONFLICT (business_id, provider_message_id) DO NOTHING
            RETURNING id`
        if (inserted.length === 0) {
          const existing = yield* sql`
              SELECT id FROM messages
              WHERE business_id = ${message.businessId} AND provider_message_id = ${message.providerMessageId}`.pipe(
            Effect.flatMap(decodeIdRows)
          )
          const id = existing[0]?.id
          if (id === undefined) {
            return yield* storageFailure("MessageRepository.recordInbound", "the message id is already taken")
          }
          return InboundRecorded.Duplicate({ messageId: id as MessageId })
        }
        // GREATEST ignores NULL, so a first inbound sets last_inbound_at and a late older one never lowers it.
        const conversation = yield* sql`
            UPDATE conversations SET
              customer_name = COALESCE(${Option.getOrNull(input.customerName)}, customer_name),
              status = 'open',
              unread_count = unread_count + 1,
              last_inbound_at = CASE WHEN ${input.opensWindow}
                THEN GREATEST(last_inbound_at, ${at}::timestamptz) ELSE last_inbound_at END,
              last_activity_at = GREATEST(last_activity_at, ${at}::timestamptz)
            WHERE business_id = ${message.businessId} AND id = ${message.conversationId}
            RETURNING ${sql.literal(conversationColumns)}`.pipe(Effect.flatMap(decodeConversations))
        const updated = conversation[0]
        if (updated === undefined) {
          return yield* storageFailure("MessageRepository.recordInbound", "the message's conversation does not exist")
        }
        yield* messageEvents("message.received", [{ message, conversation: updated }])
        return InboundRecorded.Recorded({ message, conversation: updated })
      })
    ).pipe(storage("MessageRepository.recordInbound"))
  }

  // Set-based, in a fixed number of statements whatever the batch holds (see internal/inboundBatch.ts).
  const recordInboundBatch = makeRecordInboundBatch({ sql, ids, conversations, row, recordInbound })

  const lockProviderId = (businessId: BusinessId, providerMessageId: string) =>
    sql`SELECT pg_advisory_xact_lock(hashtextextended(${providerLockKey(businessId, providerMessageId)}, 0))`

  /** Raises the message with this provider id to `status` if that raises its rank; the updated row, if it did. */
  const raise = (
    businessId: BusinessId,
    providerMessageId: string,
    status: DeliveryStatus,
    failure: { readonly code: number; readonly title: string } | null
  ) =>
    sql`
    UPDATE messages SET
      delivery_status = ${status},
      failure_code = ${failure?.code ?? null}::integer,
      failure_title = ${failure?.title ?? null}::text
    WHERE business_id = ${businessId} AND provider_message_id = ${providerMessageId}
      AND ${rank} < ${deliveryStatusRank(status)}
    RETURNING ${columns}`.pipe(Effect.flatMap(first))

  /** Applies the parked statuses of a provider id whose message is now known; the message, if they raised it. */
  const drainParked = (businessId: BusinessId, providerMessageId: string) =>
    Effect.gen(function* () {
      const parked = yield* sql`
        UPDATE message_status_events SET parked = false
        WHERE business_id = ${businessId} AND provider_message_id = ${providerMessageId} AND parked
        RETURNING status, failure_code, failure_title`.pipe(Effect.flatMap(decodeParkedRows))
      const best = parked.reduce<(typeof parked)[number] | undefined>(
        (top, event) =>
          top === undefined || deliveryStatusRank(event.status) > deliveryStatusRank(top.status) ? event : top,
        undefined
      )
      if (best === undefined) return Option.none<Message>()
      const failure =
        best.status === "failed" && best.failure_code !== null
          ? { code: best.failure_code, title: best.failure_title ?? "" }
          : null
      return yield* raise(businessId, providerMessageId, best.status, failure)
    })

  const logEvent = (businessId: BusinessId, update: StatusUpdate, parked: boolean) => {
    const failure = Option.getOrNull(update.failure)
    return sql`
      INSERT INTO message_status_events
        (business_id, provider_message_id, status, occurred_at, failure_code, failure_title, message_id, parked)
      VALUES (
        ${businessId}, ${update.providerMessageId}, ${update.status}, ${toDate(update.timestamp)},
        ${failure?.code ?? null}, ${failure?.title ?? null}, ${Option.getOrNull(update.messageId)}, ${parked}
      )
      ON CONFLICT (business_id, provider_message_id, status) DO NOTHING`
  }

  /** The provider id is unknown, but the provider echoed our message id: record the id and apply the status. */
  const applyByMessageId = (businessId: BusinessId, update: StatusUpdate, messageId: MessageId) => {
    const failure = update.status === "failed" ? Option.getOrNull(update.failure) : null
    const newRank = deliveryStatusRank(update.status)
    // The subquery locks the row first, so `previous` is the status this UPDATE actually replaced.
    return sql`
      UPDATE messages m SET
        provider_message_id = ${update.providerMessageId},
        delivery_status = CASE WHEN ${rankOf(sql, "previous.delivery_status")} < ${newRank}
          THEN ${update.status} ELSE m.delivery_status END,
        failure_code = CASE WHEN ${rankOf(sql, "previous.delivery_status")} < ${newRank}
          THEN ${failure?.code ?? null}::integer ELSE m.failure_code END,
        failure_title = CASE WHEN ${rankOf(sql, "previous.delivery_status")} < ${newRank}
          THEN ${failure?.title ?? null}::text ELSE m.failure_title END
      FROM (
        SELECT id, delivery_status FROM messages
        WHERE business_id = ${businessId} AND id = ${messageId} AND provider_message_id IS NULL
        FOR UPDATE
      ) previous
      WHERE m.business_id = ${businessId} AND m.id = previous.id
      RETURNING ${rankOf(sql, "previous.delivery_status")} < ${newRank} AS raised,
        previous.delivery_status AS previous_status`.pipe(Effect.flatMap(decodeRaisedRows), Effect.map(Arr.head))
  }

  const appliedEvent = (applied: StatusApplied) =>
    applied._tag === "Applied" ? messageEvents("message.status_updated", [{ message: applied.message }]) : Effect.void

  const applyStatus = (businessId: BusinessId, update: StatusUpdate) => {
    const failure = update.status === "failed" ? Option.getOrNull(update.failure) : null
    const newRank = deliveryStatusRank(update.status)
    // Applied when the single monotonic UPDATE raised it; Unchanged only when the message, as read afterwards, is
    // already at this rank or above. A message whose provider id was committed between the two statements reads
    // lower: the UPDATE is simply tried again (ranks only rise, so this ends).
    const known: Effect.Effect<Option.Option<StatusApplied>, SqlError | ParseResult.ParseError> = Effect.gen(
      function* () {
        const raised = yield* raise(businessId, update.providerMessageId, update.status, failure)
        if (Option.isSome(raised)) return Option.some<StatusApplied>(StatusApplied.Applied({ message: raised.value }))
        const current = yield* selectByProviderId(businessId, update.providerMessageId)
        if (Option.isNone(current)) return Option.none()
        if (deliveryStatusRank(current.value.deliveryStatus) < newRank) return yield* known
        return Option.some<StatusApplied>(StatusApplied.Unchanged({ message: current.value }))
      }
    )
    return transaction(
      Effect.gen(function* () {
        // The common case (the message is known) takes no lock: `raise` alone is atomic and monotonic.
        const fast = yield* known
        if (Option.isSome(fast)) {
          yield* logEvent(businessId, update, false)
          yield* appliedEvent(fast.value)
          return fast.value
        }
        yield* lockProviderId(businessId, update.providerMessageId)
        // Under the lock, a markSent that committed meanwhile is visible.
        const again = yield* known
        if (Option.isSome(again)) {
          yield* logEvent(businessId, update, false)
          yield* appliedEvent(again.value)
          return again.value
        }
        if (Option.isSome(update.messageId)) {
          const raised = yield* applyByMessageId(businessId, update, update.messageId.value)
          if (Option.isSome(raised)) {
            yield* logEvent(businessId, update, false)
            yield* drainParked(businessId, update.providerMessageId)
            const message = yield* select(businessId, update.messageId.value)
            if (Option.isSome(message)) {
              yield* statusEvent(raised.value.previous_status, message.value)
              return raised.value.raised
                ? StatusApplied.Applied({ message: message.value })
                : StatusApplied.Unchanged({ message: message.value })
            }
          }
        }
        yield* logEvent(businessId, update, true)
        return StatusApplied.Parked()
      })
    ).pipe(storage("MessageRepository.applyStatus"))
  }

  /**
   * A batch of statuses in one transaction. The messages the batch names by provider id are read and locked in one
   * statement (in provider-id order, so concurrent batches lock alike and cannot deadlock on them); each update is
   * then judged in order in memory, exactly as `applyStatus` would judge it after the ones before; the final status
   * of every raised message is written by one UPDATE over a VALUES list (per 1,000), and the events by one multi-row
   * INSERT.
   * Updates for provider ids no message has (rare: a status ahead of `markSent`) go through `applyStatus` one by
   * one after that, id by id in sorted order, since they take the provider id's advisory lock.
   */
  const applyStatuses = (businessId: BusinessId, updates: ReadonlyArray<StatusUpdate>) => {
    const operation = "MessageRepository.applyStatuses"
    if (updates.length <= 1) return Effect.forEach(updates, (update) => applyStatus(businessId, update))
    return transaction(
      Effect.gen(function* () {
        const providerIds = Array.from(new Set(updates.map((u) => u.providerMessageId))).sort()
        const current = new Map<string, Message>()
        for (const chunk of Arr.chunksOf(providerIds, 1000)) {
          const rows = yield* sql`
              SELECT ${columns} FROM messages
              WHERE business_id = ${businessId} AND provider_message_id IN ${sql.in(chunk)}
              ORDER BY provider_message_id
              FOR UPDATE`.pipe(Effect.flatMap(decodeMessages))
          for (const m of rows) if (m.providerMessageId !== null) current.set(m.providerMessageId, m)
        }
        const outcomes: Array<StatusApplied | undefined> = []
        const raised = new Map<MessageId, Message>()
        const known: Array<StatusUpdate> = []
        const unknown = new Map<string, Array<number>>()
        updates.forEach((update, i) => {
          const message = current.get(update.providerMessageId)
          if (message === undefined) {
            outcomes.push(undefined)
            unknown.set(update.providerMessageId, [...(unknown.get(update.providerMessageId) ?? []), i])
            return
          }
          known.push(update)
          if (deliveryStatusRank(update.status) <= deliveryStatusRank(message.deliveryStatus)) {
            outcomes.push(StatusApplied.Unchanged({ message }))
            return
          }
          // What `raise` writes: the status, and the failure reason only with `failed`.
          const next = new MessageClass(
            {
              ...message,
              deliveryStatus: update.status,
              failure: update.status === "failed" ? Option.getOrNull(update.failure) : null
            },
            true
          )
          current.set(update.providerMessageId, next)
          raised.set(next.id, next)
          outcomes.push(StatusApplied.Applied({ message: next }))
        })
        if (raised.size > 0) {
          // In chunks, so no statement nears PostgreSQL's 65,535 bind parameters (a round joins deliveries).
          for (const chunk of Arr.chunksOf(Array.from(raised.values()), 1000)) {
            const values = chunk.map(
              (m) =>
                sql`(${m.id}::uuid, ${m.deliveryStatus}::text, ${m.failure?.code ?? null}::integer,
                    ${m.failure?.title ?? null}::text)`
            )
            yield* sql`
                UPDATE messages m SET
                  delivery_status = v.status, failure_code = v.failure_code, failure_title = v.failure_title
                FROM (VALUES ${sql.csv(values)}) AS v (id, status, failure_code, failure_title)
                WHERE m.business_id = ${businessId} AND m.id = v.id`
          }
          // The events bump their conversations' sequences: those rows are locked first, in id order, so batches
          // running concurrently (several workers) cannot deadlock on them. FOR NO KEY UPDATE, the bump's own lock:
          // FOR UPDATE would also wait for every inbound batch that inserted a message into one of them (the
          // foreign key's KEY SHARE) to commit.
          const touched = Array.from(new Set(Array.from(raised.values(), (m) => m.conversationId))).sort()
          for (const chunk of Arr.chunksOf(touched, 1000)) {
            yield* sql`
                SELECT 1 FROM conversations
                WHERE business_id = ${businessId} AND id IN ${sql.in(chunk)}
                ORDER BY id
                FOR NO KEY UPDATE`
          }
          // One event per status that moved a message, in the batch's order (as one by one would record them),
          // written by one statement.
          yield* messageEvents(
            "message.status_updated",
            outcomes.flatMap((outcome) => (outcome?._tag === "Applied" ? [{ message: outcome.message }] : []))
          )
        }
        for (const chunk of Arr.chunksOf(known, 500)) {
          const values = chunk.map((update) => {
            const failure = Option.getOrNull(update.failure)
            return sql`(
                ${businessId}::uuid, ${update.providerMessageId}::text, ${update.status}::text,
                ${toDate(update.timestamp)}::timestamptz, ${failure?.code ?? null}::integer,
                ${failure?.title ?? null}::text, ${Option.getOrNull(update.messageId)}::uuid, false
              )`
          })
          yield* sql`
              INSERT INTO message_status_events
                (business_id, provider_message_id, status, occurred_at, failure_code, failure_title, message_id, parked)
              VALUES ${sql.csv(values)}
              ON CONFLICT (business_id, provider_message_id, status) DO NOTHING`
        }
        for (const providerId of Array.from(unknown.keys()).sort()) {
          for (const i of unknown.get(providerId) ?? []) {
            const update = updates[i]
            if (update !== undefined) outcomes[i] = yield* applyStatus(businessId, update)
          }
        }
        const result: Array<StatusApplied> = []
        for (const outcome of outcomes) {
          if (outcome === undefined) return yield* storageFailure(operation, "a status was left unjudged")
          result.push(outcome)
        }
        return result
      })
    ).pipe(storage(operation))
  }

  // Business by business through the partial index (business_id, created_at, id), like every other statement.
  // SKIP LOCKED: concurrent sweepers (other processes) take disjoint rows instead of queueing behind each other;
  // the outer `pending` test is rechecked on the row's latest version, so a status committed meanwhile wins.
  const expireUnconfirmed = (input: {
    readonly cutoff: DateTime.Utc
    readonly failure: DeliveryFailure
    readonly limit: number
  }) =>
    sql`
      WITH due AS (
        SELECT m.business_id, m.id FROM messages m JOIN businesses b ON m.business_id = b.id
        WHERE m.delivery_status = 'pending' AND m.direction = 'outbound' AND m.created_at <= ${toDate(input.cutoff)}
        ORDER BY m.created_at, m.id
        LIMIT ${Math.max(0, Math.floor(input.limit))}
        FOR UPDATE OF m SKIP LOCKED
      )
      UPDATE messages SET
        delivery_status = 'failed', failure_code = ${input.failure.code}, failure_title = ${input.failure.title}
      WHERE (business_id, id) IN (SELECT business_id, id FROM due) AND delivery_status = 'pending'
      RETURNING ${columns}`.pipe(
      Effect.flatMap(decodeMessages),
      Effect.tap((failed) =>
        messageEvents(
          "message.status_updated",
          failed.map((message) => ({ message }))
        )
      ),
      transaction,
      storage("MessageRepository.expireUnconfirmed")
    )

  const findById = (businessId: BusinessId, id: MessageId) =>
    select(businessId, id).pipe(storage("MessageRepository.findById"))

  const listByConversation = (
    businessId: BusinessId,
    conversationId: ConversationId,
    page: { readonly before?: Cursor.Position; readonly limit: number }
  ) =>
    historyStatement(sql, businessId, conversationId, page).pipe(
      Effect.flatMap(decodeMessages),
      storage("MessageRepository.listByConversation")
    )

  /**
   * The conversation and its page of history. On node-postgres both statements go as one script (script.ts): one
   * round trip and one write to the socket instead of two, the inbox's get being the most frequent read. Each
   * statement still reads its own snapshot, as two round trips would. Otherwise (PGlite) one after the other.
   */
  const findWithHistory = (
    businessId: BusinessId,
    conversationId: ConversationId,
    page: { readonly before?: Cursor.Position; readonly limit: number }
  ) =>
    Effect.gen(function* () {
      const conversation = byIdStatement(sql, businessId, conversationId)
      const history = historyStatement(sql, businessId, conversationId, page)
      const text = scripts ? script([conversation, history]) : undefined
      const [conversationRows, historyRows] =
        text === undefined
          ? [yield* conversation, undefined]
          : (eachRows(yield* sql.unsafe<object>(text), 2) ??
            (yield* storageFailure(
              "MessageRepository.findWithHistory",
              "the driver did not answer one result per statement"
            )))
      const found = (yield* decodeConversations(conversationRows ?? []))[0]
      if (found === undefined) return Option.none()
      const messages = yield* decodeMessages(historyRows ?? (yield* history))
      return Option.some({ conversation: found, messages })
    }).pipe(storage("MessageRepository.findWithHistory"))

  const { recordOutbound, markSent, markFailed } = makeSendWrites({
    sql,
    ids,
    row,
    select,
    lockKey: providerLockKey
  })

  return MessageRepository.of({
    recordInbound,
    recordInboundBatch,
    recordOutbound,
    markSent,
    markFailed,
    applyStatus,
    applyStatuses,
    expireUnconfirmed,
    findById,
    listByConversation,
    findWithHistory
  })
})

export const layer: Layer.Layer<MessageRepository, never, SqlClient.SqlClient | ConversationRepository> = Layer.effect(
  MessageRepository,
  make
)
