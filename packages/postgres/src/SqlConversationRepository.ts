/**
 * `ConversationRepository` over a `SqlClient`: keyset pages on (last_activity_at desc, id desc), filters backed by
 * their own indexes, and a `findOrCreate` that leans on unique constraints rather than any lock of ours.
 */

import type { Statement } from "@effect/sql"
import * as SqlClient from "@effect/sql/SqlClient"
import {
  type BusinessId,
  type Conversation,
  type ConversationId,
  type ConversationPatch,
  type ConversationQuery,
  ConversationRepository,
  type CustomerIdentity,
  Events,
  Phone,
  type WhatsAppNumberId
} from "@parley/core"
import { Array as Arr, DateTime, Effect, Layer, Option, Schema } from "effect"
import { Integer, likeSubstring, toDate, toDateOrNull } from "./internal/columns.js"
import { eventIds, recordEvents } from "./internal/events.js"
import { notifying } from "./internal/notifier.js"
import { prepared } from "./internal/prepared.js"
import { conversationColumns, decodeConversations } from "./internal/rows.js"
import { storage, storageFailure } from "./internal/storage.js"

const decodeUnread = Schema.decodeUnknown(Schema.Array(Schema.Struct({ unread_count: Integer })))

/** A search term made only of what people type in phone numbers. */
const phoneLike = /^[\d\s+\-()]+$/

// The core's reference semantics (`MemoryStorage.searchMatches`): a case-insensitive name substring, or, when the
// term looks like a phone number, a digit substring of the phone. Each side is served by its trigram index.
const searchCondition = (sql: SqlClient.SqlClient, term: string) => {
  const digits = Phone.digits(term)
  const name = sql`customer_name ILIKE ${likeSubstring(term)}`
  return digits.length > 0 && phoneLike.test(term)
    ? sql`(${name} OR customer_phone LIKE ${likeSubstring(digits)})`
    : name
}

/**
 * The statement behind `list`, exported so `scripts/explain.ts` measures exactly what the repository runs.
 * Each filter is an equality on a column that has its own (business_id, column, last_activity_at, id) index, and
 * the keyset condition is a row comparison the index can start from.
 */
export const listStatement = (sql: SqlClient.SqlClient, businessId: BusinessId, query: ConversationQuery) => {
  const conditions: Array<Statement.Fragment> = [sql`business_id = ${businessId}`]
  if (query.status !== undefined) conditions.push(sql`status = ${query.status}`)
  if (query.mode !== undefined) conditions.push(sql`mode = ${query.mode}`)
  if (query.assigned?._tag === "User") conditions.push(sql`assigned_user_id = ${query.assigned.userId}`)
  if (query.assigned?._tag === "Unassigned") conditions.push(sql`assigned_user_id IS NULL`)
  if (query.search !== undefined) conditions.push(searchCondition(sql, query.search))
  if (query.after !== undefined) {
    conditions.push(sql`(last_activity_at, id) < (${toDate(query.after.at)}, ${query.after.id})`)
  }
  return sql`
    SELECT ${sql.literal(conversationColumns)} FROM conversations
    WHERE ${sql.and(conditions)}
    ORDER BY last_activity_at DESC, id DESC
    LIMIT ${Math.max(0, Math.floor(query.limit))}`
}

/** A business's conversation by id (`findById`, and the first half of `MessageRepository.findWithHistory`). */
export const byIdStatement = (sql: SqlClient.SqlClient, businessId: BusinessId, id: ConversationId) =>
  sql`${prepared(sql)} SELECT ${sql.literal(conversationColumns)} FROM conversations
    WHERE business_id = ${businessId} AND id = ${id}`

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  /** A transaction whose recorded events wake followers once it commits (internal/notifier.ts). */
  const transaction = <A, E, R>(write: Effect.Effect<A, E, R>) => notifying(sql)(sql.withTransaction(write))
  const ids = yield* eventIds
  const columns = sql.literal(conversationColumns)
  /** Records one conversation event in the current transaction. */
  const conversationEvent = (type: "conversation.created" | "conversation.updated", conversation: Conversation) =>
    Effect.flatMap(DateTime.now, (now) => recordEvents(sql, ids, [Events.conversationEvent(type, conversation, now)]))

  const first = (rows: ReadonlyArray<unknown>) => Effect.map(decodeConversations(rows), Arr.head)

  const list = (businessId: BusinessId, query: ConversationQuery) =>
    listStatement(sql, businessId, query).pipe(
      Effect.flatMap(decodeConversations),
      storage("ConversationRepository.list")
    )

  const findById = (businessId: BusinessId, id: ConversationId) =>
    byIdStatement(sql, businessId, id).pipe(Effect.flatMap(first), storage("ConversationRepository.findById"))

  const byPhone = (businessId: BusinessId, numberId: WhatsAppNumberId, phone: string) =>
    sql`
      SELECT ${columns} FROM conversations
      WHERE business_id = ${businessId} AND whatsapp_number_id = ${numberId} AND customer_phone = ${phone}`.pipe(
      Effect.flatMap(first)
    )

  const byUserId = (businessId: BusinessId, numberId: WhatsAppNumberId, userId: string) =>
    sql`
      SELECT ${columns} FROM conversations
      WHERE business_id = ${businessId} AND whatsapp_number_id = ${numberId} AND customer_user_id = ${userId}`.pipe(
      Effect.flatMap(first)
    )

  // Phone first, then the business-scoped user id, as the port says.
  const lookup = (businessId: BusinessId, numberId: WhatsAppNumberId, phone: string | null, userId: string | null) =>
    (phone === null ? Effect.succeedNone : byPhone(businessId, numberId, phone)).pipe(
      Effect.flatMap((found) =>
        Option.isSome(found) || userId === null ? Effect.succeed(found) : byUserId(businessId, numberId, userId)
      )
    )

  const findByCustomer = (businessId: BusinessId, numberId: WhatsAppNumberId, customer: CustomerIdentity) =>
    lookup(businessId, numberId, Option.getOrNull(customer.phone), Option.getOrNull(customer.userId)).pipe(
      storage("ConversationRepository.findByCustomer")
    )

  // INSERT … ON CONFLICT DO NOTHING, then read: a concurrent insert of the same customer makes ours a no-op (the
  // statement waits for the other transaction), and the read that follows sees the winner's row.
  const findOrCreate = (candidate: Conversation) =>
    transaction(
      Effect.gen(function* () {
        const inserted = yield* sql`
        INSERT INTO conversations (${columns})
        VALUES (
          ${candidate.businessId}, ${candidate.id}, ${candidate.whatsappNumberId}, ${candidate.customerPhone},
          ${candidate.customerUserId}, ${candidate.customerName}, ${candidate.status}, ${candidate.mode},
          ${candidate.unreadCount}, ${candidate.assignedUserId}, ${toDateOrNull(candidate.lastInboundAt)},
          ${toDateOrNull(candidate.lastOutboundAt)}, ${toDate(candidate.lastActivityAt)}, ${toDate(candidate.createdAt)}
        )
        ON CONFLICT DO NOTHING
        RETURNING ${columns}`.pipe(Effect.flatMap(first))
        if (Option.isSome(inserted)) {
          yield* conversationEvent("conversation.created", inserted.value)
          return inserted.value
        }
        const existing = yield* lookup(
          candidate.businessId,
          candidate.whatsappNumberId,
          candidate.customerPhone,
          candidate.customerUserId
        )
        if (Option.isSome(existing)) return existing.value
        return yield* storageFailure(
          "ConversationRepository.findOrCreate",
          "the conversation id is taken by another customer's conversation"
        )
      })
    ).pipe(storage("ConversationRepository.findOrCreate"))

  const update = (businessId: BusinessId, id: ConversationId, patch: ConversationPatch) =>
    (patch.status === undefined && patch.mode === undefined && patch.assignedUserId === undefined
      ? sql`SELECT ${columns} FROM conversations WHERE business_id = ${businessId} AND id = ${id}`.pipe(
          Effect.flatMap(first)
        )
      : transaction(
          sql`
            UPDATE conversations SET
              status = COALESCE(${patch.status ?? null}, status),
              mode = COALESCE(${patch.mode ?? null}, mode),
              assigned_user_id = CASE WHEN ${patch.assignedUserId !== undefined}
                THEN ${patch.assignedUserId ?? null}::uuid ELSE assigned_user_id END
            WHERE business_id = ${businessId} AND id = ${id}
            RETURNING ${columns}`.pipe(
            Effect.flatMap(first),
            Effect.tap(
              Option.match({ onNone: () => Effect.void, onSome: (c) => conversationEvent("conversation.updated", c) })
            )
          )
        )
    ).pipe(storage("ConversationRepository.update"))

  const markRead = (businessId: BusinessId, id: ConversationId) =>
    transaction(
      Effect.gen(function* () {
        // The row lock first (the UPDATE's own, which does not wait for message inserts' KEY SHARE), so the count
        // it reads is the one this UPDATE replaces.
        const before = yield* sql`
            SELECT unread_count FROM conversations WHERE business_id = ${businessId} AND id = ${id}
            FOR NO KEY UPDATE`.pipe(Effect.flatMap(decodeUnread))
        const conversation = yield* sql`
            UPDATE conversations SET unread_count = 0
            WHERE business_id = ${businessId} AND id = ${id}
            RETURNING ${columns}`.pipe(Effect.flatMap(first))
        if (Option.isNone(conversation)) return conversation
        if ((before[0]?.unread_count ?? 0) > 0) yield* conversationEvent("conversation.updated", conversation.value)
        // The predicate repeats the partial index's, so only unread inbound messages are visited.
        yield* sql`
            UPDATE messages SET delivery_status = 'read'
            WHERE business_id = ${businessId} AND conversation_id = ${id}
              AND direction = 'inbound' AND delivery_status IN ('pending', 'sent', 'delivered')`
        return conversation
      })
    ).pipe(storage("ConversationRepository.markRead"))

  return ConversationRepository.of({ list, findById, findByCustomer, findOrCreate, update, markRead })
})

export const layer: Layer.Layer<ConversationRepository, never, SqlClient.SqlClient> = Layer.effect(
  ConversationRepository,
  make
)
