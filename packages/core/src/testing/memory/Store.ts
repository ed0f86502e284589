/**
 * The in-memory store that every memory adapter shares (so the writes the ports promise to make atomically are
 * atomic here too), and the helpers the adapters share: ownership checks, ordering, events, status raises.
 */
import { DateTime, Effect, Option } from "effect"
import type { Conversation } from "../../Conversation.js"
import type { ConversationQuery } from "../../ConversationRepository.js"
import type { Position } from "../../Cursor.js"
import type { CustomerIdentity } from "../../Customer.js"
import * as Events from "../../Event.js"
import type { RecordedEvent } from "../../EventLog.js"
import type { Outcome } from "../../Idempotency.js"
import type { BusinessId, ConversationId, MessageId, UserId, WhatsAppNumberId } from "../../Ids.js"
import { advanceDeliveryStatus, type DeliveryFailure, Message } from "../../Message.js"
import type { StatusUpdate } from "../../MessageRepository.js"
import { digits } from "../../Phone.js"
import { StorageError } from "../../StorageError.js"
import type { Template } from "../../Template.js"
import type { WhatsAppNumber } from "../../WhatsAppNumber.js"

export interface IdempotencyRecord {
  readonly fingerprint: string
  readonly expiresAt: DateTime.Utc
  lockedUntil: DateTime.Utc
  messageId: MessageId | null
  outcome: Outcome | null
}

/** The whole in-memory database. */
export interface MemoryStore {
  readonly businesses: Set<BusinessId>
  readonly users: Map<BusinessId, Set<UserId>>
  readonly numbers: Map<WhatsAppNumberId, WhatsAppNumber>
  readonly conversations: Map<ConversationId, Conversation>
  readonly messages: Map<MessageId, Message>
  /** `${businessId} ${providerMessageId}` → message id. */
  readonly byProviderId: Map<string, MessageId>
  /** `${businessId} ${providerMessageId}` → status updates that arrived before their message. */
  readonly parked: Map<string, Array<StatusUpdate>>
  /** `${businessId} ${key}` → template. */
  readonly templates: Map<string, Template>
  /** `${businessId} ${key}` → idempotency record. */
  readonly idempotency: Map<string, IdempotencyRecord>
  /** The outbox, in the order the changes were made (`cursor` is the position as a decimal string). */
  readonly events: Array<RecordedEvent & { readonly position: number }>
  /** The last sequence given to each conversation's events. */
  readonly sequences: Map<ConversationId, number>
  /** Positions handed out so far (kept when events are purged). */
  positions: number
  /** Woken after each change that recorded events (the live stream). */
  readonly listeners: Set<() => void>
}

export const makeStore = (): MemoryStore => ({
  businesses: new Set(),
  users: new Map(),
  numbers: new Map(),
  conversations: new Map(),
  messages: new Map(),
  byProviderId: new Map(),
  parked: new Map(),
  templates: new Map(),
  idempotency: new Map(),
  events: [],
  sequences: new Map(),
  positions: 0,
  listeners: new Set()
})

/**
 * Records events in the same synchronous block as the change they describe (so atomically with it), with the next
 * sequence of their conversation. The memory adapter numbers event ids itself (a UUID-shaped counter), leaving
 * the `Ids` sequence of a test's own entities untouched.
 */
export const recordEvents = (store: MemoryStore, now: DateTime.Utc, pending: ReadonlyArray<Events.PendingEvent>) => {
  for (const event of pending) {
    const position = ++store.positions
    let sequence: number | null = null
    if (event.conversationId !== null) {
      sequence = (store.sequences.get(event.conversationId) ?? 0) + 1
      store.sequences.set(event.conversationId, sequence)
    }
    const id = `00000000-0000-4000-a000-${position.toString(16).padStart(12, "0")}`
    store.events.push({
      position,
      cursor: String(position),
      recordedAt: now,
      event: Events.complete(event, { id, occurredAt: now, sequence })
    })
  }
  if (pending.length > 0) for (const wake of store.listeners) wake()
}

/** The clock's time, then a synchronous critical section that may record events at that time. */
export const atomically = <A>(body: (now: DateTime.Utc) => A) =>
  Effect.flatMap(DateTime.now, (now) => Effect.sync(() => body(now)))

export const scoped = (businessId: BusinessId, key: string) => `${businessId} ${key}`

export const phoneLike = /^[\d\s+\-()]+$/

/** The reference semantics of `ConversationQuery.search`, which every adapter must match. */
export const searchMatches = (conversation: Conversation, search: string): boolean => {
  const name = conversation.customerName
  if (name?.toLowerCase().includes(search.toLowerCase())) return true
  const wanted = digits(search)
  return (
    wanted.length > 0 &&
    phoneLike.test(search) &&
    conversation.customerPhone !== null &&
    digits(conversation.customerPhone).includes(wanted)
  )
}

/** (time desc, id desc): the order of every list. */
export const newestFirst = (a: { at: DateTime.Utc; id: string }, b: { at: DateTime.Utc; id: string }) => {
  const byTime = DateTime.toEpochMillis(b.at) - DateTime.toEpochMillis(a.at)
  return byTime !== 0 ? byTime : a.id < b.id ? 1 : a.id > b.id ? -1 : 0
}

export const isAfter = (item: { at: DateTime.Utc; id: string }, position: Position) => newestFirst(item, position) > 0

export const matchesQuery = (conversation: Conversation, query: ConversationQuery) =>
  (query.status === undefined || conversation.status === query.status) &&
  (query.mode === undefined || conversation.mode === query.mode) &&
  (query.assigned === undefined ||
    (query.assigned._tag === "Unassigned"
      ? conversation.assignedUserId === null
      : conversation.assignedUserId === query.assigned.userId)) &&
  (query.search === undefined || searchMatches(conversation, query.search)) &&
  (query.after === undefined || isAfter({ at: conversation.lastActivityAt, id: conversation.id }, query.after))

export const sameCustomer = (conversation: Conversation, customer: Pick<CustomerIdentity, "phone" | "userId">) =>
  Option.match(customer.phone, {
    onSome: (phone) => conversation.customerPhone === phone,
    onNone: () => false
  }) ||
  Option.match(customer.userId, {
    onSome: (userId) => conversation.customerUserId === userId,
    onNone: () => false
  })

export const findCustomer = (
  store: MemoryStore,
  businessId: BusinessId,
  whatsappNumberId: WhatsAppNumberId,
  customer: Pick<CustomerIdentity, "phone" | "userId">
): Conversation | undefined => {
  const candidates = [...store.conversations.values()].filter(
    (c) => c.businessId === businessId && c.whatsappNumberId === whatsappNumberId
  )
  // Phone first, then the business-scoped id, as the port documents.
  return (
    candidates.find((c) => Option.isSome(customer.phone) && c.customerPhone === customer.phone.value) ??
    candidates.find((c) => sameCustomer(c, customer))
  )
}

export const findOrCreateConversation = (
  store: MemoryStore,
  candidate: Conversation,
  now: DateTime.Utc
): Conversation => {
  const customer = {
    phone: Option.fromNullable(candidate.customerPhone),
    userId: Option.fromNullable(candidate.customerUserId)
  }
  const existing = findCustomer(store, candidate.businessId, candidate.whatsappNumberId, customer)
  if (existing !== undefined) return existing
  store.conversations.set(candidate.id, candidate)
  recordEvents(store, now, [Events.conversationEvent("conversation.created", candidate, now)])
  return candidate
}

export const ownConversation = (store: MemoryStore, businessId: BusinessId, id: ConversationId) => {
  const conversation = store.conversations.get(id)
  return conversation !== undefined && conversation.businessId === businessId ? conversation : undefined
}

export const ownMessage = (store: MemoryStore, businessId: BusinessId, id: MessageId) => {
  const message = store.messages.get(id)
  return message !== undefined && message.businessId === businessId ? message : undefined
}

export const missingConversation = (operation: string) =>
  Effect.fail(new StorageError({ operation, reason: "the message's conversation does not exist in this business" }))

export const withMessage = (message: Message, changes: Partial<Message>): Message =>
  new Message({ ...message, ...changes }, true)

/** Applies one status to a stored message; returns the new message when its rank rose. */
export const raise = (store: MemoryStore, message: Message, update: StatusUpdate): Message | undefined => {
  const next = advanceDeliveryStatus(message.deliveryStatus, update.status)
  if (next === message.deliveryStatus) return undefined
  const failure: DeliveryFailure | null =
    next === "failed" ? Option.getOrElse(update.failure, () => message.failure) : message.failure
  const updated = withMessage(message, { deliveryStatus: next, failure })
  store.messages.set(message.id, updated)
  return updated
}
