/**
 * `MessageRepository.recordInboundBatch` on SQL: a webhook delivery's messages (or several deliveries') in one
 * transaction and a few set-based statements per thousand messages, never one per message:
 *
 *   1. which provider ids are stored already (one SELECT per 1,000): those messages are duplicates;
 *   2. the senders' conversations (one SELECT by phone, one by user id, per 1,000);
 *   3. the conversations of new senders (one multi-row INSERT … ON CONFLICT DO NOTHING … RETURNING per 500);
 *   4. the messages (one multi-row INSERT per 500);
 *   5. every touched conversation (one UPDATE over a VALUES list per 1,000, its rows locked in id order);
 *   6. every event, `conversation.created` and `message.received` (one `recordEvents`).
 *
 * It ends where recording the same messages one by one ends: the same rows, and the same events with the same
 * per-conversation sequences (a conversation's `conversation.created` before its first `message.received`).
 */

import type { Statement } from "@effect/sql"
import type * as SqlClient from "@effect/sql/SqlClient"
import {
  type BusinessId,
  type Conversation,
  type ConversationId,
  type ConversationRepository,
  CustomerIdentity,
  Events,
  type Ids,
  type InboundRecord,
  InboundRecorded,
  type Message,
  Message as MessageClass,
  type MessageId,
  type StorageError
} from "@parley/core"
import { Array as Arr, DateTime, Effect, Option, Schema } from "effect"
import { toDate, toDateOrNull } from "./columns.js"
import { recordEvents } from "./events.js"
import { notifying } from "./notifier.js"
import { conversationColumns, decodeConversations, messageColumns } from "./rows.js"
import { storage, storageFailure } from "./storage.js"

const IdRow = Schema.Struct({ id: Schema.String })
const decodeIdRows = Schema.decodeUnknown(Schema.Array(IdRow))

const ProviderRow = Schema.Struct({ id: Schema.String, provider_message_id: Schema.String })
const decodeProviderRows = Schema.decodeUnknown(Schema.Array(ProviderRow))

export interface InboundBatchDeps {
  readonly sql: SqlClient.SqlClient
  readonly ids: Ids["Type"]
  readonly conversations: ConversationRepository["Type"]
  /** A message's row as a typed VALUES tuple (shared with the other inserts of messages). */
  readonly row: (message: Message) => Statement.Fragment
  /** One record's path, for a batch that is not one number's. */
  readonly recordInbound: (record: InboundRecord) => Effect.Effect<InboundRecorded, StorageError>
}

/** A customer's key for the order in which new conversations are inserted (and so their unique keys locked). */
const customerKey = (c: Conversation) => `${c.customerPhone ?? ""}\u0000${c.customerUserId ?? ""}`

export const makeRecordInboundBatch = (deps: InboundBatchDeps) => {
  const { sql, ids, conversations, row } = deps
  /** A transaction whose recorded events wake followers once it commits (notifier.ts). */
  const transaction = <A, E, R>(write: Effect.Effect<A, E, R>) => notifying(sql)(sql.withTransaction(write))
  const operation = "MessageRepository.recordInboundBatch"
  const columns = sql.literal(messageColumns)
  const conversationList = sql.literal(conversationColumns)
  const conversationColumnsOf = (table: string) => sql.literal(qualified(table, conversationColumns))

  const conversationRow = (c: Conversation) => sql`(
      ${c.businessId}::uuid, ${c.id}::uuid, ${c.whatsappNumberId}::uuid, ${c.customerPhone}::text,
      ${c.customerUserId}::text, ${c.customerName}::text, ${c.status}::text, ${c.mode}::text,
      ${c.unreadCount}::integer, ${c.assignedUserId}::uuid, ${toDateOrNull(c.lastInboundAt)}::timestamptz,
      ${toDateOrNull(c.lastOutboundAt)}::timestamptz, ${toDate(c.lastActivityAt)}::timestamptz,
      ${toDate(c.createdAt)}::timestamptz
    )`

  const batch = (
    businessId: BusinessId,
    numberId: Conversation["whatsappNumberId"],
    records: ReadonlyArray<InboundRecord>
  ) =>
    Effect.gen(function* () {
      // 1. Provider ids already stored: those messages are duplicates.
      const providerIds = Array.from(
        new Set(records.flatMap((r) => (r.message.providerMessageId === null ? [] : [r.message.providerMessageId])))
      )
      const stored = new Map<string, MessageId>()
      for (const chunk of Arr.chunksOf(providerIds, 1000)) {
        const rows = yield* sql`
          SELECT id, provider_message_id FROM messages
          WHERE business_id = ${businessId} AND provider_message_id IN ${sql.in(chunk)}`.pipe(
          Effect.flatMap(decodeProviderRows)
        )
        for (const r of rows) stored.set(r.provider_message_id, r.id as MessageId)
      }
      // The first occurrence of each new provider id is fresh; the rest of the batch are duplicates. A redelivered
      // message changes nothing, not even by creating its sender's conversation.
      const claimed = new Set<string>()
      const fresh = records.filter((r) => {
        const pid = r.message.providerMessageId
        if (pid === null) return true
        if (stored.has(pid) || claimed.has(pid)) return false
        claimed.add(pid)
        return true
      })

      // 2. The senders' conversations.
      const byPhone = new Map<string, Conversation>()
      const byUserId = new Map<string, Conversation>()
      const phones = Array.from(new Set(fresh.flatMap((r) => Arr.fromNullable(r.conversation.customerPhone))))
      const userIds = Array.from(new Set(fresh.flatMap((r) => Arr.fromNullable(r.conversation.customerUserId))))
      // In chunks, so no statement nears PostgreSQL's 65,535 bind parameters however many deliveries a batch joins.
      const found: Array<Conversation> = []
      for (const chunk of Arr.chunksOf(phones, 1000)) {
        found.push(
          ...(yield* sendersStatement(sql, businessId, numberId, "phone", chunk).pipe(
            Effect.flatMap(decodeConversations)
          ))
        )
      }
      for (const chunk of Arr.chunksOf(userIds, 1000)) {
        found.push(
          ...(yield* sendersStatement(sql, businessId, numberId, "userId", chunk).pipe(
            Effect.flatMap(decodeConversations)
          ))
        )
      }
      for (const c of found) if (c.customerUserId !== null) byUserId.set(c.customerUserId, c)
      for (const c of found) if (c.customerPhone !== null) byPhone.set(c.customerPhone, c)
      // Phone first, then user id: the order `findByCustomer` looks them up in.
      const conversationOf = (candidate: Conversation) =>
        (candidate.customerPhone === null ? undefined : byPhone.get(candidate.customerPhone)) ??
        (candidate.customerUserId === null ? undefined : byUserId.get(candidate.customerUserId))

      // 3. In arrival order, as one by one: a sender with no conversation gets its candidate, which later messages of
      // the batch (by phone or by user id) then find, exactly as they would find it stored.
      const planned = new Map<ConversationId, Conversation>()
      const assigned: Array<Conversation> = []
      for (const r of fresh) {
        const known = conversationOf(r.conversation)
        if (known !== undefined) {
          assigned.push(known)
          continue
        }
        const candidate = r.conversation
        planned.set(candidate.id, candidate)
        if (candidate.customerPhone !== null) byPhone.set(candidate.customerPhone, candidate)
        if (candidate.customerUserId !== null) byUserId.set(candidate.customerUserId, candidate)
        assigned.push(candidate)
      }
      // All new conversations in one statement, in customer order (so concurrent batches take the unique keys in
      // the same order and cannot deadlock on them). One that lost a race with another process's insert of the
      // same customer is looked up (rare: one statement or two each).
      const actual = new Map<ConversationId, Conversation>()
      const created = new Map<ConversationId, Conversation>()
      if (planned.size > 0) {
        const toCreate = Array.from(planned.values()).sort((a, b) =>
          customerKey(a) < customerKey(b) ? -1 : customerKey(a) > customerKey(b) ? 1 : 0
        )
        for (const chunk of Arr.chunksOf(toCreate, 500)) {
          const inserted = yield* sql`
            INSERT INTO conversations (${conversationList})
            VALUES ${sql.csv(chunk.map(conversationRow))}
            ON CONFLICT DO NOTHING
            RETURNING ${conversationList}`.pipe(Effect.flatMap(decodeConversations))
          for (const c of inserted) {
            actual.set(c.id, c)
            created.set(c.id, c)
          }
        }
        for (const candidate of toCreate) {
          if (actual.has(candidate.id)) continue
          const existing = yield* conversations.findByCustomer(
            businessId,
            numberId,
            new CustomerIdentity(
              {
                phone: Option.fromNullable(candidate.customerPhone),
                userId: Option.fromNullable(candidate.customerUserId)
              },
              true
            )
          )
          if (Option.isNone(existing)) {
            return yield* storageFailure(operation, "the conversation id is taken by another customer's conversation")
          }
          actual.set(candidate.id, existing.value)
        }
      }
      const messagesToInsert = fresh.map((r, i) => {
        const assignedTo = assigned[i] ?? r.conversation
        const conversationId = actual.get(assignedTo.id)?.id ?? assignedTo.id
        return conversationId === r.message.conversationId
          ? r.message
          : new MessageClass({ ...r.message, conversationId }, true)
      })

      // 4. The messages. One racing with another process's insert of the same provider id is skipped here and
      // reported as the duplicate it is.
      const inserted = new Set<string>()
      for (const chunk of Arr.chunksOf(messagesToInsert, 500)) {
        const rows = yield* sql`
          INSERT INTO messages (${columns}) VALUES ${sql.csv(chunk.map(row))}
          ON CONFLICT (business_id, provider_message_id) DO NOTHING
          RETURNING id`.pipe(Effect.flatMap(decodeIdRows))
        for (const r of rows) inserted.add(r.id)
      }
      const recorded = messagesToInsert.filter((m) => inserted.has(m.id))
      const lost = messagesToInsert.filter((m) => !inserted.has(m.id) && m.providerMessageId !== null)
      for (const chunk of Arr.chunksOf(lost, 1000)) {
        const rows = yield* sql`
          SELECT id, provider_message_id FROM messages
          WHERE business_id = ${businessId}
            AND provider_message_id IN ${sql.in(chunk.map((m) => m.providerMessageId))}`.pipe(
          Effect.flatMap(decodeProviderRows)
        )
        for (const r of rows) stored.set(r.provider_message_id, r.id as MessageId)
      }

      // 5. Every touched conversation in one UPDATE, with what its new messages change, in arrival order: unread +
      // the count, name = the last one given, times only forward. Its rows are locked first in id order, so
      // concurrent batches (and their events' sequence bumps, which follow on the same rows) cannot deadlock. The
      // lock is FOR NO KEY UPDATE, the UPDATE's own (no key column changes): FOR UPDATE would also wait for the
      // KEY SHARE locks that a concurrent batch's message inserts (step 4, their foreign key) hold on the same rows
      // until it commits, while that batch waits here for ours: a deadlock at every overlap.
      const changes = new Map<
        string,
        { received: number; name: string | null; opensAt: DateTime.Utc | null; latest: DateTime.Utc }
      >()
      const recordOf = new Map(fresh.map((r) => [r.message.id, r] as const))
      for (const message of recorded) {
        const record = recordOf.get(message.id)
        const change = changes.get(message.conversationId) ?? {
          received: 0,
          name: null,
          opensAt: null,
          latest: message.createdAt
        }
        change.received += 1
        change.name = Option.getOrElse(record?.customerName ?? Option.none(), () => change.name)
        if (record?.opensWindow === true) {
          change.opensAt = change.opensAt === null ? message.createdAt : DateTime.max(change.opensAt, message.createdAt)
        }
        change.latest = DateTime.max(change.latest, message.createdAt)
        changes.set(message.conversationId, change)
      }
      const updated = new Map<string, Conversation>()
      // In id order, chunk after chunk: the row locks are still taken in one global order.
      const touched = Array.from(changes.keys()).sort()
      for (const chunk of Arr.chunksOf(touched, 1000)) {
        const values = chunk.flatMap((id) => {
          const c = changes.get(id)
          return c === undefined
            ? []
            : [
                sql`(${id}::uuid, ${c.name}::text, ${c.received}::integer,
                  ${c.opensAt === null ? null : toDate(c.opensAt)}::timestamptz, ${toDate(c.latest)}::timestamptz)`
              ]
        })
        const rows = yield* sql`
          WITH locked AS MATERIALIZED (
            SELECT id FROM conversations
            WHERE business_id = ${businessId} AND id IN ${sql.in(chunk)}
            ORDER BY id
            FOR NO KEY UPDATE
          )
          UPDATE conversations c SET
            customer_name = COALESCE(v.new_name, c.customer_name),
            status = 'open',
            unread_count = c.unread_count + v.received,
            last_inbound_at = CASE WHEN v.opens_at IS NULL
              THEN c.last_inbound_at ELSE GREATEST(c.last_inbound_at, v.opens_at) END,
            last_activity_at = GREATEST(c.last_activity_at, v.latest_at)
          FROM locked, (VALUES ${sql.csv(values)}) AS v (conversation_id, new_name, received, opens_at, latest_at)
          WHERE c.business_id = ${businessId} AND c.id = locked.id AND c.id = v.conversation_id
          RETURNING ${conversationColumnsOf("c")}`.pipe(Effect.flatMap(decodeConversations))
        for (const c of rows) updated.set(c.id, c)
      }

      // 6. The events, in arrival order as one by one records them: a new conversation's `conversation.created` just
      // before its first message's `message.received` (and first of all when a race left it without one), each
      // message with its conversation as it stands after the batch.
      const now = yield* DateTime.now
      const pending: Array<Events.PendingEvent> = []
      const announced = new Set<string>()
      const announce = (id: string) => {
        const conversation = created.get(id as ConversationId)
        if (conversation === undefined || announced.has(id)) return
        announced.add(id)
        pending.push(Events.conversationEvent("conversation.created", conversation, now))
      }
      const withMessages = new Set(recorded.map((m) => m.conversationId as string))
      for (const id of created.keys()) if (!withMessages.has(id)) announce(id)
      for (const message of recorded) {
        announce(message.conversationId)
        pending.push(Events.messageEvent("message.received", message, updated.get(message.conversationId), now))
      }
      yield* recordEvents(sql, ids, pending)

      // 7. One outcome per record, in order.
      const recordedById = new Map(recorded.map((m) => [m.id, m] as const))
      const freshIdOf = new Map(
        recorded.flatMap((m) => (m.providerMessageId === null ? [] : [[m.providerMessageId, m.id] as const]))
      )
      const outcomes: Array<InboundRecorded> = []
      for (const r of records) {
        const mine = recordedById.get(r.message.id)
        const conversation = mine === undefined ? undefined : updated.get(mine.conversationId)
        if (mine !== undefined && conversation !== undefined) {
          outcomes.push(InboundRecorded.Recorded({ message: mine, conversation }))
          continue
        }
        const pid = r.message.providerMessageId
        const id = pid === null ? undefined : (stored.get(pid) ?? freshIdOf.get(pid))
        if (id === undefined) return yield* storageFailure(operation, "a message was neither stored nor found")
        outcomes.push(InboundRecorded.Duplicate({ messageId: id as MessageId }))
      }
      return outcomes
    })

  return (records: ReadonlyArray<InboundRecord>) => {
    const head = records[0]
    if (head === undefined) return Effect.succeed<ReadonlyArray<InboundRecorded>>([])
    const businessId = head.message.businessId
    const numberId = head.conversation.whatsappNumberId
    const oneNumber = records.every(
      (r) =>
        r.message.businessId === businessId &&
        r.conversation.businessId === businessId &&
        r.conversation.whatsappNumberId === numberId
    )
    // A batch that is not one business's number is recorded one message at a time, still atomically.
    if (!oneNumber) {
      return transaction(Effect.forEach(records, deps.recordInbound)).pipe(storage(operation))
    }
    return transaction(batch(businessId, numberId, records)).pipe(storage(operation))
  }
}

/**
 * The conversations of a number's senders, by phone or by user id (step 2). The list is joined as an array, not
 * matched by `IN (…)`: for a long `customer_phone IN` list the planner picks the phone's trigram index (which can
 * answer equality) at a cost it underestimates by orders of magnitude (800 phones took 14 s among 10,000
 * conversations), where the join probes the unique (number, phone) index or hashes the number's conversations.
 */
export const sendersStatement = (
  sql: SqlClient.SqlClient,
  businessId: BusinessId,
  numberId: Conversation["whatsappNumberId"],
  by: "phone" | "userId",
  values: ReadonlyArray<string>
) => {
  const column = sql.literal(by === "phone" ? "customer_phone" : "customer_user_id")
  return sql`
    SELECT ${sql.literal(qualified("c", conversationColumns))} FROM conversations c
    JOIN unnest(${values}::text[]) AS wanted (value) ON c.${column} = wanted.value
    WHERE c.business_id = ${businessId} AND c.whatsapp_number_id = ${numberId}`
}

/** `a, b` as `t.a, t.b`: a column list in a statement that joins tables sharing column names. */
const qualified = (table: string, list: string) =>
  list
    .split(",")
    .map((column) => `${table}.${column.trim()}`)
    .join(", ")
