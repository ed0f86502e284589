/**
 * In-memory adapters for every storage port, sharing one store so that the writes the ports promise to make
 * atomically (a message with its conversation update, an outbound message with its idempotency key) are atomic
 * here too: each method's critical section is one synchronous block, which nothing can interleave in JavaScript.
 *
 * For tests and for embedders' own tests; not durable.
 */
import { Context, DateTime, Duration, Effect, Layer, Option, Queue } from "effect"
import { applyInbound, applyOutbound, applyPatch, Conversation } from "../Conversation.js"
import { type ConversationQuery, ConversationRepository } from "../ConversationRepository.js"
import { InvalidCursor, type Position } from "../Cursor.js"
import type { CustomerIdentity } from "../Customer.js"
import * as Events from "../Event.js"
import { EventLog, follow, followBatch, type RecordedEvent } from "../EventLog.js"
import { ClaimResult, IdempotencyStore, type Outcome, Sent } from "../Idempotency.js"
import type { BusinessId, ConversationId, MessageId, UserId, WhatsAppNumberId } from "../Ids.js"
import { advanceDeliveryStatus, type DeliveryFailure, Message } from "../Message.js"
import { InboundRecorded, MessageRepository, StatusApplied, type StatusUpdate } from "../MessageRepository.js"
import { digits } from "../Phone.js"
import { StorageError } from "../StorageError.js"
import { Template } from "../Template.js"
import { TemplateCatalog } from "../TemplateCatalog.js"
import { UserDirectory } from "../UserDirectory.js"
import type { WhatsAppNumber } from "../WhatsAppNumber.js"
import { WhatsAppNumberDirectory } from "../WhatsAppNumberDirectory.js"
import { StorageSeeder } from "./StorageSeeder.js"

interface IdempotencyRecord {
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
const recordEvents = (store: MemoryStore, now: DateTime.Utc, pending: ReadonlyArray<Events.PendingEvent>) => {
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
const atomically = <A>(body: (now: DateTime.Utc) => A) =>
  Effect.flatMap(DateTime.now, (now) => Effect.sync(() => body(now)))

const scoped = (businessId: BusinessId, key: string) => `${businessId} ${key}`

const phoneLike = /^[\d\s+\-()]+$/

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
const newestFirst = (a: { at: DateTime.Utc; id: string }, b: { at: DateTime.Utc; id: string }) => {
  const byTime = DateTime.toEpochMillis(b.at) - DateTime.toEpochMillis(a.at)
  return byTime !== 0 ? byTime : a.id < b.id ? 1 : a.id > b.id ? -1 : 0
}

const isAfter = (item: { at: DateTime.Utc; id: string }, position: Position) => newestFirst(item, position) > 0

const matchesQuery = (conversation: Conversation, query: ConversationQuery) =>
  (query.status === undefined || conversation.status === query.status) &&
  (query.mode === undefined || conversation.mode === query.mode) &&
  (query.assigned === undefined ||
    (query.assigned._tag === "Unassigned"
      ? conversation.assignedUserId === null
      : conversation.assignedUserId === query.assigned.userId)) &&
  (query.search === undefined || searchMatches(conversation, query.search)) &&
  (query.after === undefined || isAfter({ at: conversation.lastActivityAt, id: conversation.id }, query.after))

const sameCustomer = (conversation: Conversation, customer: Pick<CustomerIdentity, "phone" | "userId">) =>
  Option.match(customer.phone, {
    onSome: (phone) => conversation.customerPhone === phone,
    onNone: () => false
  }) ||
  Option.match(customer.userId, {
    onSome: (userId) => conversation.customerUserId === userId,
    onNone: () => false
  })

const findCustomer = (
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

const findOrCreateConversation = (store: MemoryStore, candidate: Conversation, now: DateTime.Utc): Conversation => {
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

const ownConversation = (store: MemoryStore, businessId: BusinessId, id: ConversationId) => {
  const conversation = store.conversations.get(id)
  return conversation !== undefined && conversation.businessId === businessId ? conversation : undefined
}

const ownMessage = (store: MemoryStore, businessId: BusinessId, id: MessageId) => {
  const message = store.messages.get(id)
  return message !== undefined && message.businessId === businessId ? message : undefined
}

const missingConversation = (operation: string) =>
  Effect.fail(new StorageError({ operation, reason: "the message's conversation does not exist in this business" }))

const withMessage = (message: Message, changes: Partial<Message>): Message =>
  new Message({ ...message, ...changes }, true)

/** Applies one status to a stored message; returns the new message when its rank rose. */
const raise = (store: MemoryStore, message: Message, update: StatusUpdate): Message | undefined => {
  const next = advanceDeliveryStatus(message.deliveryStatus, update.status)
  if (next === message.deliveryStatus) return undefined
  const failure: DeliveryFailure | null =
    next === "failed" ? Option.getOrElse(update.failure, () => message.failure) : message.failure
  const updated = withMessage(message, { deliveryStatus: next, failure })
  store.messages.set(message.id, updated)
  return updated
}

export const makeConversationRepository = (store: MemoryStore): ConversationRepository["Type"] => ({
  list: (businessId, query) =>
    Effect.sync(() =>
      [...store.conversations.values()]
        .filter((c) => c.businessId === businessId && matchesQuery(c, query))
        .sort((a, b) => newestFirst({ at: a.lastActivityAt, id: a.id }, { at: b.lastActivityAt, id: b.id }))
        .slice(0, query.limit)
    ),
  findById: (businessId, id) => Effect.sync(() => Option.fromNullable(ownConversation(store, businessId, id))),
  findByCustomer: (businessId, whatsappNumberId, customer) =>
    Effect.sync(() => Option.fromNullable(findCustomer(store, businessId, whatsappNumberId, customer))),
  findOrCreate: (candidate) => atomically((now) => findOrCreateConversation(store, candidate, now)),
  update: (businessId, id, patch) =>
    atomically((now) => {
      const conversation = ownConversation(store, businessId, id)
      if (conversation === undefined) return Option.none()
      const updated = applyPatch(conversation, patch)
      store.conversations.set(id, updated)
      if (patch.status !== undefined || patch.mode !== undefined || patch.assignedUserId !== undefined) {
        recordEvents(store, now, [Events.conversationEvent("conversation.updated", updated, now)])
      }
      return Option.some(updated)
    }),
  markRead: (businessId, id) =>
    atomically((now) => {
      const conversation = ownConversation(store, businessId, id)
      if (conversation === undefined) return Option.none()
      const updated = new Conversation({ ...conversation, unreadCount: 0 }, true)
      store.conversations.set(id, updated)
      if (conversation.unreadCount > 0) {
        recordEvents(store, now, [Events.conversationEvent("conversation.updated", updated, now)])
      }
      for (const message of store.messages.values()) {
        if (message.conversationId === id && message.direction === "inbound") {
          const read = advanceDeliveryStatus(message.deliveryStatus, "read")
          if (read !== message.deliveryStatus)
            store.messages.set(message.id, withMessage(message, { deliveryStatus: read }))
        }
      }
      return Option.some(updated)
    })
})

export const makeMessageRepository = (store: MemoryStore): MessageRepository["Type"] => {
  const applyParked = (message: Message) => {
    if (message.providerMessageId === null) return message
    const key = scoped(message.businessId, message.providerMessageId)
    const parked = store.parked.get(key) ?? []
    store.parked.delete(key)
    let current = message
    for (const update of parked) current = raise(store, current, update) ?? current
    return current
  }
  /** `message.status_updated` when a change moved the message's status. */
  const statusChanged = (now: DateTime.Utc, before: Message, after: Message) => {
    if (before.deliveryStatus !== after.deliveryStatus) {
      recordEvents(store, now, [Events.messageEvent("message.status_updated", after, undefined, now)])
    }
  }
  const history = (
    businessId: BusinessId,
    conversationId: ConversationId,
    page: { readonly before?: Position; readonly limit: number }
  ) =>
    [...store.messages.values()]
      .filter(
        (m) =>
          m.businessId === businessId &&
          m.conversationId === conversationId &&
          (page.before === undefined || isAfter({ at: m.createdAt, id: m.id }, page.before))
      )
      .sort((a, b) => newestFirst({ at: a.createdAt, id: a.id }, { at: b.createdAt, id: b.id }))
      .slice(0, page.limit)

  const repository: MessageRepository["Type"] = {
    recordInbound: ({ conversation: candidate, message: named, customerName, opensWindow }) =>
      Effect.flatten(
        atomically((now): Effect.Effect<InboundRecorded, StorageError> => {
          const providerKey = scoped(named.businessId, named.providerMessageId ?? named.id)
          const duplicate = store.byProviderId.get(providerKey)
          if (duplicate !== undefined) return Effect.succeed(InboundRecorded.Duplicate({ messageId: duplicate }))
          if (candidate.businessId !== named.businessId) return missingConversation("recordInbound")
          const conversation = findOrCreateConversation(store, candidate, now)
          const message = withMessage(named, { conversationId: conversation.id })
          const received = applyInbound(conversation, message.createdAt, customerName)
          const updated = opensWindow
            ? received
            : new Conversation({ ...received, lastInboundAt: conversation.lastInboundAt }, true)
          store.conversations.set(updated.id, updated)
          store.messages.set(message.id, message)
          store.byProviderId.set(providerKey, message.id)
          const settled = applyParked(message)
          recordEvents(store, now, [Events.messageEvent("message.received", settled, updated, now)])
          return Effect.succeed(InboundRecorded.Recorded({ message: settled, conversation: updated }))
        })
      ),
    // Memory cannot fail half-way through a batch, so one record after another is all or none here.
    recordInboundBatch: (records) => Effect.forEach(records, (record) => repository.recordInbound(record)),
    recordOutbound: ({ message, idempotencyKey }) =>
      Effect.flatten(
        atomically((now): Effect.Effect<Message, StorageError> => {
          const conversation = ownConversation(store, message.businessId, message.conversationId)
          if (conversation === undefined) return missingConversation("recordOutbound")
          const updated = applyOutbound(conversation, message.createdAt)
          store.conversations.set(conversation.id, updated)
          store.messages.set(message.id, message)
          recordEvents(store, now, [Events.messageEvent("message.sent", message, updated, now)])
          if (Option.isSome(idempotencyKey)) {
            const record = store.idempotency.get(scoped(message.businessId, idempotencyKey.value))
            if (record !== undefined) record.messageId = message.id
          }
          return Effect.succeed(message)
        })
      ),
    markSent: (businessId, id, providerMessageId, idempotencyKey) =>
      atomically((now) => {
        const message = ownMessage(store, businessId, id)
        if (message === undefined) return Option.none()
        const withId = withMessage(message, {
          providerMessageId,
          deliveryStatus: advanceDeliveryStatus(message.deliveryStatus, "sent")
        })
        store.messages.set(id, withId)
        store.byProviderId.set(scoped(businessId, providerMessageId), id)
        const settled = applyParked(withId)
        statusChanged(now, message, settled)
        const record =
          idempotencyKey === undefined ? undefined : store.idempotency.get(scoped(businessId, idempotencyKey))
        if (record !== undefined) {
          record.outcome = new Sent({ message: settled })
          record.messageId = settled.id
        }
        return Option.some(settled)
      }),
    markFailed: (businessId, id, failure) =>
      atomically((now) => {
        const message = ownMessage(store, businessId, id)
        if (message === undefined) return Option.none()
        const failed = withMessage(message, { deliveryStatus: "failed", failure })
        store.messages.set(id, failed)
        statusChanged(now, message, failed)
        return Option.some(failed)
      }),
    applyStatus: (businessId, update) =>
      atomically((now) => {
        const providerKey = scoped(businessId, update.providerMessageId)
        let id = store.byProviderId.get(providerKey)
        let linked = false
        if (id === undefined && Option.isSome(update.messageId)) {
          const byOurId = ownMessage(store, businessId, update.messageId.value)
          if (byOurId !== undefined && byOurId.providerMessageId === null) {
            id = byOurId.id
            linked = true
            store.messages.set(id, withMessage(byOurId, { providerMessageId: update.providerMessageId }))
            store.byProviderId.set(providerKey, id)
          }
        }
        const message = id === undefined ? undefined : ownMessage(store, businessId, id)
        if (message === undefined) {
          const parked = store.parked.get(providerKey) ?? []
          parked.push(update)
          store.parked.set(providerKey, parked)
          return StatusApplied.Parked()
        }
        const raised = raise(store, message, update)
        if (linked) {
          // As with markSent: the statuses parked under this provider id now have their message.
          const settled = applyParked(raised ?? message)
          statusChanged(now, message, settled)
          return raised === undefined
            ? StatusApplied.Unchanged({ message: settled })
            : StatusApplied.Applied({ message: settled })
        }
        if (raised !== undefined) statusChanged(now, message, raised)
        return raised === undefined ? StatusApplied.Unchanged({ message }) : StatusApplied.Applied({ message: raised })
      }),
    // In memory nothing is gained by batching: each update as `applyStatus`, in order.
    applyStatuses: (businessId, updates) =>
      Effect.forEach(updates, (update) => repository.applyStatus(businessId, update)),
    expireUnconfirmed: ({ cutoff, failure, limit }) =>
      atomically((now) => {
        const due = [...store.messages.values()]
          .filter(
            (m) =>
              m.direction === "outbound" &&
              m.deliveryStatus === "pending" &&
              DateTime.lessThanOrEqualTo(m.createdAt, cutoff)
          )
          .sort((a, b) => -newestFirst({ at: a.createdAt, id: a.id }, { at: b.createdAt, id: b.id }))
          .slice(0, Math.max(0, limit))
        return due.map((message) => {
          const failed = withMessage(message, { deliveryStatus: "failed", failure })
          store.messages.set(message.id, failed)
          statusChanged(now, message, failed)
          return failed
        })
      }),
    findById: (businessId, id) => Effect.sync(() => Option.fromNullable(ownMessage(store, businessId, id))),
    listByConversation: (businessId, conversationId, page) =>
      Effect.sync(() => history(businessId, conversationId, page)),
    findWithHistory: (businessId, conversationId, page) =>
      Effect.sync(() =>
        Option.map(Option.fromNullable(ownConversation(store, businessId, conversationId)), (conversation) => ({
          conversation,
          messages: history(businessId, conversationId, page)
        }))
      )
  }
  return repository
}

export const makeTemplateCatalog = (store: MemoryStore): TemplateCatalog["Type"] => ({
  findByKey: (businessId, key) => Effect.sync(() => Option.fromNullable(store.templates.get(scoped(businessId, key)))),
  list: (businessId) =>
    Effect.sync(() =>
      [...store.templates.values()]
        .filter((t) => t.businessId === businessId)
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    ),
  upsert: (template) =>
    atomically((now) => {
      const key = scoped(template.businessId, template.key)
      const existing = store.templates.get(key)
      const kept = existing === undefined ? template : new Template({ ...template, id: existing.id }, true)
      store.templates.set(key, kept)
      recordEvents(store, now, Option.toArray(Events.templateStatusEvent(kept, existing?.status ?? null)))
      return kept
    })
})

const cursorPattern = /^[1-9][0-9]{0,15}$/

export const makeEventLog = (
  store: MemoryStore,
  options: { readonly pollInterval?: Duration.DurationInput } = {}
): EventLog["Type"] => {
  const read: EventLog["Type"]["read"] = (businessId, query) =>
    Effect.suspend(() => {
      let after = 0
      if (Option.isSome(query.after)) {
        if (!cursorPattern.test(query.after.value)) {
          return Effect.fail(new InvalidCursor({ cursor: query.after.value.slice(0, 200) }))
        }
        after = Number(query.after.value)
      }
      const types = query.types === undefined || query.types.length === 0 ? undefined : new Set(query.types)
      const page: Array<RecordedEvent> = []
      for (const stored of store.events) {
        if (page.length >= query.limit) break
        if (stored.position <= after || stored.event.businessId !== businessId) continue
        if (types !== undefined && !types.has(stored.event.type)) continue
        page.push({ cursor: stored.cursor, recordedAt: stored.recordedAt, event: stored.event })
      }
      return Effect.succeed(page)
    })
  const head: EventLog["Type"]["head"] = (businessId) =>
    Effect.sync(() =>
      Option.fromNullable(store.events.findLast((stored) => stored.event.businessId === businessId)?.cursor)
    )
  return {
    read,
    head,
    subscribe: (businessId, { after, types }) =>
      follow({
        read: (cursor) => read(businessId, { after: cursor, types, limit: followBatch }),
        head: head(businessId),
        after,
        wakeups: Effect.acquireRelease(
          Effect.map(Queue.sliding<void>(1), (queue) => {
            const wake = () => void Queue.unsafeOffer(queue, undefined)
            store.listeners.add(wake)
            return [queue, wake] as const
          }),
          ([queue, wake]) =>
            Effect.zipRight(
              Effect.sync(() => store.listeners.delete(wake)),
              Queue.shutdown(queue)
            )
        ).pipe(Effect.map(([queue]) => queue)),
        pollInterval: options.pollInterval ?? Duration.seconds(1)
      }),
    purge: ({ cutoff, limit }) =>
      Effect.sync(() => {
        let purged = 0
        for (let i = 0; i < store.events.length && purged < limit; ) {
          const stored = store.events[i]
          if (stored !== undefined && DateTime.lessThan(stored.recordedAt, cutoff)) {
            store.events.splice(i, 1)
            purged++
          } else i++
        }
        return purged
      })
  }
}

export const makeIdempotencyStore = (store: MemoryStore): IdempotencyStore["Type"] => ({
  claim: (businessId, key, fingerprint, times) =>
    Effect.sync(() => {
      const id = scoped(businessId, key)
      const existing = store.idempotency.get(id)
      const fresh = () => {
        store.idempotency.set(id, {
          fingerprint,
          expiresAt: times.expiresAt,
          lockedUntil: times.lockedUntil,
          messageId: null,
          outcome: null
        })
        return ClaimResult.Claimed()
      }
      if (existing === undefined || DateTime.lessThanOrEqualTo(existing.expiresAt, times.now)) return fresh()
      if (existing.fingerprint !== fingerprint) return ClaimResult.Mismatch()
      if (existing.outcome !== null) return ClaimResult.Completed({ outcome: existing.outcome })
      if (DateTime.greaterThan(existing.lockedUntil, times.now)) return ClaimResult.InFlight()
      existing.lockedUntil = times.lockedUntil
      return existing.messageId === null
        ? ClaimResult.Claimed()
        : ClaimResult.Abandoned({ messageId: existing.messageId })
    }),
  complete: (businessId, key, outcome) =>
    Effect.sync(() => {
      const record = store.idempotency.get(scoped(businessId, key))
      if (record !== undefined) record.outcome = outcome
    }),
  release: (businessId, key) =>
    Effect.sync(() => {
      const id = scoped(businessId, key)
      if (store.idempotency.get(id)?.outcome === null) store.idempotency.delete(id)
    }),
  purgeExpired: (now) =>
    Effect.sync(() => {
      let purged = 0
      for (const [id, record] of store.idempotency) {
        if (DateTime.lessThanOrEqualTo(record.expiresAt, now)) {
          store.idempotency.delete(id)
          purged++
        }
      }
      return purged
    })
})

export const makeWhatsAppNumberDirectory = (store: MemoryStore): WhatsAppNumberDirectory["Type"] => ({
  findById: (businessId, id) =>
    Effect.sync(() => {
      const number = store.numbers.get(id)
      return number !== undefined && number.businessId === businessId ? Option.some(number) : Option.none()
    }),
  findByProviderId: (providerPhoneNumberId, provider = "whatsapp_cloud") =>
    Effect.sync(() =>
      Option.fromNullable(
        [...store.numbers.values()].find(
          (n) => n.providerPhoneNumberId === providerPhoneNumberId && n.provider === provider
        )
      )
    )
})

export const makeUserDirectory = (store: MemoryStore): UserDirectory["Type"] => ({
  exists: (businessId, userId) => Effect.sync(() => store.users.get(businessId)?.has(userId) ?? false)
})

export const makeSeeder = (store: MemoryStore): StorageSeeder["Type"] => ({
  business: ({ id }) => Effect.sync(() => void store.businesses.add(id)),
  user: ({ id, businessId }) =>
    Effect.sync(() => {
      const users = store.users.get(businessId) ?? new Set<UserId>()
      users.add(id)
      store.users.set(businessId, users)
    }),
  whatsappNumber: (number) => Effect.sync(() => void store.numbers.set(number.id, number))
})

export type MemoryStoragePorts =
  | EventLog
  | ConversationRepository
  | MessageRepository
  | TemplateCatalog
  | IdempotencyStore
  | WhatsAppNumberDirectory
  | UserDirectory
  | StorageSeeder

/** Every storage port (and the test seeder) over the given store. */
export const contextOf = (store: MemoryStore): Context.Context<MemoryStoragePorts> =>
  Context.make(ConversationRepository, makeConversationRepository(store)).pipe(
    Context.add(MessageRepository, makeMessageRepository(store)),
    Context.add(EventLog, makeEventLog(store)),
    Context.add(TemplateCatalog, makeTemplateCatalog(store)),
    Context.add(IdempotencyStore, makeIdempotencyStore(store)),
    Context.add(WhatsAppNumberDirectory, makeWhatsAppNumberDirectory(store)),
    Context.add(UserDirectory, makeUserDirectory(store)),
    Context.add(StorageSeeder, makeSeeder(store))
  )

/** Every storage port (and the test seeder) over one fresh in-memory store. */
export const layer: Layer.Layer<MemoryStoragePorts> = Layer.effectContext(Effect.sync(() => contextOf(makeStore())))
