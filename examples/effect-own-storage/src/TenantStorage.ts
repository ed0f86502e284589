/**
 * The app's own storage adapter for Parley: every storage port of `@parley/core` over one in-process store that is
 * partitioned by business (each business is a `Partition` of its own tables), so a lookup can only ever see the
 * business it was asked for. Each method's critical section is one synchronous block, which nothing can
 * interleave in JavaScript: that gives the atomic steps the ports promise (a message with its conversation, an
 * outbound message with its idempotency key).
 *
 * An app with a real database writes the same thing over its own tables; the contract suite
 * (`runStorageContract` from `@parley/core/testing`) says whether it keeps every promise of the ports.
 */
import {
  advanceDeliveryStatus,
  applyInbound,
  applyOutbound,
  applyPatch,
  type BusinessId,
  Conversation,
  type ConversationId,
  type ConversationQuery,
  ConversationRepository,
  type Cursor,
  type CustomerIdentity,
  type DeliveryFailure,
  Idempotency,
  IdempotencyStore,
  InboundRecorded,
  Message,
  type MessageId,
  MessageRepository,
  StatusApplied,
  type StatusUpdate,
  StorageError,
  Template,
  TemplateCatalog,
  UserDirectory,
  type UserId,
  type WhatsAppNumber,
  WhatsAppNumberDirectory,
  type WhatsAppNumberId
} from "@parley/core"
import { MemoryStorage, StorageSeeder } from "@parley/core/testing"
import { DateTime, Effect, Layer, Option } from "effect"

interface KeyRecord {
  readonly fingerprint: string
  readonly expiresAt: DateTime.Utc
  lockedUntil: DateTime.Utc
  messageId: MessageId | null
  outcome: Idempotency.Outcome | null
}

/** One business's tables. */
interface Partition {
  readonly users: Set<UserId>
  readonly conversations: Map<ConversationId, Conversation>
  readonly messages: Map<MessageId, Message>
  /** Provider message id → our message id. */
  readonly byProviderId: Map<string, MessageId>
  /** Provider message id → statuses that arrived before their message. */
  readonly early: Map<string, Array<StatusUpdate>>
  readonly templates: Map<string, Template>
  readonly keys: Map<string, KeyRecord>
}

const emptyPartition = (): Partition => ({
  users: new Set(),
  conversations: new Map(),
  messages: new Map(),
  byProviderId: new Map(),
  early: new Map(),
  templates: new Map(),
  keys: new Map()
})

/** Newest first by (time, id): the order of every list. */
const compareNewest = (a: { at: DateTime.Utc; id: string }, b: { at: DateTime.Utc; id: string }): number => {
  const byTime = DateTime.toEpochMillis(b.at) - DateTime.toEpochMillis(a.at)
  return byTime !== 0 ? byTime : a.id < b.id ? 1 : a.id > b.id ? -1 : 0
}

const conversationKey = (c: Conversation) => ({ at: c.lastActivityAt, id: c.id })
const messageKey = (m: Message) => ({ at: m.createdAt, id: m.id })

export const make = () => {
  const partitions = new Map<BusinessId, Partition>()
  const numbers = new Map<WhatsAppNumberId, WhatsAppNumber>()

  const partition = (businessId: BusinessId): Partition => {
    let found = partitions.get(businessId)
    if (found === undefined) {
      found = emptyPartition()
      partitions.set(businessId, found)
    }
    return found
  }

  const customerOf = (
    p: Partition,
    whatsappNumberId: WhatsAppNumberId,
    customer: Pick<CustomerIdentity, "phone" | "userId">
  ) => {
    const ofNumber = [...p.conversations.values()].filter((c) => c.whatsappNumberId === whatsappNumberId)
    const phone = Option.getOrNull(customer.phone)
    const userId = Option.getOrNull(customer.userId)
    return (
      (phone === null ? undefined : ofNumber.find((c) => c.customerPhone === phone)) ??
      (userId === null ? undefined : ofNumber.find((c) => c.customerUserId === userId))
    )
  }

  const findOrCreate = (candidate: Conversation): Conversation => {
    const p = partition(candidate.businessId)
    const existing = customerOf(p, candidate.whatsappNumberId, {
      phone: Option.fromNullable(candidate.customerPhone),
      userId: Option.fromNullable(candidate.customerUserId)
    })
    if (existing !== undefined) return existing
    p.conversations.set(candidate.id, candidate)
    return candidate
  }

  const matches = (c: Conversation, query: ConversationQuery) =>
    (query.status === undefined || c.status === query.status) &&
    (query.mode === undefined || c.mode === query.mode) &&
    (query.assigned === undefined ||
      (query.assigned._tag === "Unassigned"
        ? c.assignedUserId === null
        : c.assignedUserId === query.assigned.userId)) &&
    (query.search === undefined || MemoryStorage.searchMatches(c, query.search)) &&
    (query.after === undefined || compareNewest(conversationKey(c), query.after) > 0)

  const update = (p: Partition, message: Message, changes: Partial<Message>): Message => {
    const updated = new Message({ ...message, ...changes }, true)
    p.messages.set(updated.id, updated)
    return updated
  }

  /** Raises a message's status; the new message when its rank rose. */
  const raise = (p: Partition, message: Message, status: StatusUpdate): Message | undefined => {
    const next = advanceDeliveryStatus(message.deliveryStatus, status.status)
    if (next === message.deliveryStatus) return undefined
    const failure: DeliveryFailure | null =
      next === "failed" ? Option.getOrElse(status.failure, () => message.failure) : message.failure
    return update(p, message, { deliveryStatus: next, failure })
  }

  const applyEarly = (p: Partition, message: Message): Message => {
    if (message.providerMessageId === null) return message
    const waiting = p.early.get(message.providerMessageId) ?? []
    p.early.delete(message.providerMessageId)
    return waiting.reduce((current, status) => raise(p, current, status) ?? current, message)
  }

  const noConversation = (operation: string) =>
    Effect.fail(new StorageError({ operation, reason: "the message's conversation does not exist in this business" }))

  const conversations: ConversationRepository["Type"] = {
    list: (businessId, query) =>
      Effect.sync(() =>
        [...partition(businessId).conversations.values()]
          .filter((c) => matches(c, query))
          .sort((a, b) => compareNewest(conversationKey(a), conversationKey(b)))
          .slice(0, query.limit)
      ),
    findById: (businessId, id) => Effect.sync(() => Option.fromNullable(partition(businessId).conversations.get(id))),
    findByCustomer: (businessId, whatsappNumberId, customer) =>
      Effect.sync(() => Option.fromNullable(customerOf(partition(businessId), whatsappNumberId, customer))),
    findOrCreate: (candidate) => Effect.sync(() => findOrCreate(candidate)),
    update: (businessId, id, patch) =>
      Effect.sync(() => {
        const p = partition(businessId)
        const conversation = p.conversations.get(id)
        if (conversation === undefined) return Option.none()
        const updated = applyPatch(conversation, patch)
        p.conversations.set(id, updated)
        return Option.some(updated)
      }),
    markRead: (businessId, id) =>
      Effect.sync(() => {
        const p = partition(businessId)
        const conversation = p.conversations.get(id)
        if (conversation === undefined) return Option.none()
        const updated = new Conversation({ ...conversation, unreadCount: 0 }, true)
        p.conversations.set(id, updated)
        for (const message of p.messages.values()) {
          if (message.conversationId === id && message.direction === "inbound") {
            const read = advanceDeliveryStatus(message.deliveryStatus, "read")
            if (read !== message.deliveryStatus) update(p, message, { deliveryStatus: read })
          }
        }
        return Option.some(updated)
      })
  }

  const history = (
    businessId: BusinessId,
    conversationId: ConversationId,
    page: { readonly before?: Cursor.Position; readonly limit: number }
  ) =>
    [...partition(businessId).messages.values()]
      .filter(
        (m) =>
          m.conversationId === conversationId &&
          (page.before === undefined || compareNewest(messageKey(m), page.before) > 0)
      )
      .sort((a, b) => compareNewest(messageKey(a), messageKey(b)))
      .slice(0, page.limit)

  const messages: MessageRepository["Type"] = {
    recordInbound: ({ conversation: candidate, message: named, customerName, opensWindow }) =>
      Effect.suspend((): Effect.Effect<InboundRecorded, StorageError> => {
        if (candidate.businessId !== named.businessId) return noConversation("recordInbound")
        const p = partition(named.businessId)
        const providerId = named.providerMessageId ?? named.id
        const duplicate = p.byProviderId.get(providerId)
        if (duplicate !== undefined) return Effect.succeed(InboundRecorded.Duplicate({ messageId: duplicate }))
        const conversation = findOrCreate(candidate)
        const message = new Message({ ...named, conversationId: conversation.id }, true)
        const received = applyInbound(conversation, message.createdAt, customerName)
        const updated = opensWindow
          ? received
          : new Conversation({ ...received, lastInboundAt: conversation.lastInboundAt }, true)
        p.conversations.set(updated.id, updated)
        p.messages.set(message.id, message)
        p.byProviderId.set(providerId, message.id)
        return Effect.succeed(InboundRecorded.Recorded({ message: applyEarly(p, message), conversation: updated }))
      }),
    // Each record is one synchronous step, so recording them in order is the same as recording them one by one.
    recordInboundBatch: (records) => Effect.forEach(records, (record) => messages.recordInbound(record)),
    recordOutbound: ({ message, idempotencyKey }) =>
      Effect.suspend((): Effect.Effect<Message, StorageError> => {
        const p = partition(message.businessId)
        const conversation = p.conversations.get(message.conversationId)
        if (conversation === undefined) return noConversation("recordOutbound")
        p.conversations.set(conversation.id, applyOutbound(conversation, message.createdAt))
        p.messages.set(message.id, message)
        if (Option.isSome(idempotencyKey)) {
          const record = p.keys.get(idempotencyKey.value)
          if (record !== undefined) record.messageId = message.id
        }
        return Effect.succeed(message)
      }),
    markSent: (businessId, id, providerMessageId, idempotencyKey) =>
      Effect.sync(() => {
        const p = partition(businessId)
        const message = p.messages.get(id)
        if (message === undefined) return Option.none()
        const sent = update(p, message, {
          providerMessageId,
          deliveryStatus: advanceDeliveryStatus(message.deliveryStatus, "sent")
        })
        p.byProviderId.set(providerMessageId, id)
        const marked = applyEarly(p, sent)
        // The send's key completes in the same step, with the message as marked.
        const record = idempotencyKey === undefined ? undefined : p.keys.get(idempotencyKey)
        if (record !== undefined) {
          record.outcome = new Idempotency.Sent({ message: marked })
          record.messageId = marked.id
        }
        return Option.some(marked)
      }),
    markFailed: (businessId, id, failure) =>
      Effect.sync(() => {
        const p = partition(businessId)
        const message = p.messages.get(id)
        return message === undefined
          ? Option.none()
          : Option.some(update(p, message, { deliveryStatus: "failed", failure }))
      }),
    applyStatus: (businessId, status) =>
      Effect.sync(() => {
        const p = partition(businessId)
        let id = p.byProviderId.get(status.providerMessageId)
        let linked = false
        if (id === undefined && Option.isSome(status.messageId)) {
          const ours = p.messages.get(status.messageId.value)
          if (ours !== undefined && ours.providerMessageId === null) {
            id = ours.id
            linked = true
            update(p, ours, { providerMessageId: status.providerMessageId })
            p.byProviderId.set(status.providerMessageId, id)
          }
        }
        const message = id === undefined ? undefined : p.messages.get(id)
        if (message === undefined) {
          p.early.set(status.providerMessageId, [...(p.early.get(status.providerMessageId) ?? []), status])
          return StatusApplied.Parked()
        }
        const raised = raise(p, message, status)
        // Linking the provider id gives the statuses parked under it their message, as markSent does.
        const settled = linked ? applyEarly(p, raised ?? message) : (raised ?? message)
        return raised === undefined
          ? StatusApplied.Unchanged({ message: settled })
          : StatusApplied.Applied({ message: settled })
      }),
    // Each update as `applyStatus`, in order: in memory a batch saves no round trips.
    applyStatuses: (businessId, updates) =>
      Effect.forEach(updates, (update) => messages.applyStatus(businessId, update)),
    expireUnconfirmed: ({ cutoff, failure, limit }) =>
      Effect.sync(() => {
        // Oldest first, across every business: the sweeper of unconfirmed sends is not scoped to one.
        const due = [...partitions.values()]
          .flatMap((p) => [...p.messages.values()].map((message) => ({ p, message })))
          .filter(
            ({ message }) =>
              message.direction === "outbound" &&
              message.deliveryStatus === "pending" &&
              DateTime.lessThanOrEqualTo(message.createdAt, cutoff)
          )
          .sort((a, b) => compareNewest(messageKey(b.message), messageKey(a.message)))
          .slice(0, Math.max(0, limit))
        return due.map(({ p, message }) => update(p, message, { deliveryStatus: "failed", failure }))
      }),
    findById: (businessId, id) => Effect.sync(() => Option.fromNullable(partition(businessId).messages.get(id))),
    listByConversation: (businessId, conversationId, page) =>
      Effect.sync(() => history(businessId, conversationId, page)),
    findWithHistory: (businessId, conversationId, page) =>
      Effect.sync(() =>
        Option.map(Option.fromNullable(partition(businessId).conversations.get(conversationId)), (conversation) => ({
          conversation,
          messages: history(businessId, conversationId, page)
        }))
      )
  }

  const templates: TemplateCatalog["Type"] = {
    findByKey: (businessId, key) => Effect.sync(() => Option.fromNullable(partition(businessId).templates.get(key))),
    list: (businessId) =>
      Effect.sync(() =>
        [...partition(businessId).templates.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      ),
    upsert: (template) =>
      Effect.sync(() => {
        const p = partition(template.businessId)
        const existing = p.templates.get(template.key)
        const kept = existing === undefined ? template : new Template({ ...template, id: existing.id }, true)
        p.templates.set(template.key, kept)
        return kept
      })
  }

  const keys: IdempotencyStore["Type"] = {
    claim: (businessId, key, fingerprint, times) =>
      Effect.sync(() => {
        const p = partition(businessId)
        const existing = p.keys.get(key)
        if (existing === undefined || DateTime.lessThanOrEqualTo(existing.expiresAt, times.now)) {
          p.keys.set(key, {
            fingerprint,
            expiresAt: times.expiresAt,
            lockedUntil: times.lockedUntil,
            messageId: null,
            outcome: null
          })
          return Idempotency.ClaimResult.Claimed()
        }
        if (existing.fingerprint !== fingerprint) return Idempotency.ClaimResult.Mismatch()
        if (existing.outcome !== null) return Idempotency.ClaimResult.Completed({ outcome: existing.outcome })
        if (DateTime.greaterThan(existing.lockedUntil, times.now)) return Idempotency.ClaimResult.InFlight()
        existing.lockedUntil = times.lockedUntil
        return existing.messageId === null
          ? Idempotency.ClaimResult.Claimed()
          : Idempotency.ClaimResult.Abandoned({ messageId: existing.messageId })
      }),
    complete: (businessId, key, outcome) =>
      Effect.sync(() => {
        const record = partition(businessId).keys.get(key)
        if (record !== undefined) record.outcome = outcome
      }),
    release: (businessId, key) =>
      Effect.sync(() => {
        const p = partition(businessId)
        if (p.keys.get(key)?.outcome === null) p.keys.delete(key)
      }),
    purgeExpired: (now) =>
      Effect.sync(() => {
        let purged = 0
        for (const p of partitions.values()) {
          for (const [key, record] of p.keys) {
            if (DateTime.lessThanOrEqualTo(record.expiresAt, now)) {
              p.keys.delete(key)
              purged++
            }
          }
        }
        return purged
      })
  }

  const numberDirectory: WhatsAppNumberDirectory["Type"] = {
    findById: (businessId, id) =>
      Effect.sync(() => Option.fromNullable(numbers.get(id)).pipe(Option.filter((n) => n.businessId === businessId))),
    // A provider's id is unique within that provider only (a Twilio sender and a Meta id may look alike).
    findByProviderId: (providerPhoneNumberId, provider = "whatsapp_cloud") =>
      Effect.sync(() =>
        Option.fromNullable(
          [...numbers.values()].find(
            (n) => n.providerPhoneNumberId === providerPhoneNumberId && n.provider === provider
          )
        )
      )
  }

  const users: UserDirectory["Type"] = {
    exists: (businessId, userId) => Effect.sync(() => partitions.get(businessId)?.users.has(userId) ?? false)
  }

  /** How the app's own admin code (and the contract suite) creates businesses, users and numbers. */
  const seeder: StorageSeeder["Type"] = {
    business: ({ id }) => Effect.sync(() => void partition(id)),
    user: ({ id, businessId }) => Effect.sync(() => void partition(businessId).users.add(id)),
    whatsappNumber: (number) => Effect.sync(() => void numbers.set(number.id, number))
  }

  return { conversations, messages, templates, keys, numberDirectory, users, seeder }
}

/** Every storage port of Parley (and the seeder) on one new store. */
export const layer = Layer.unwrapEffect(
  Effect.sync(() => {
    const store = make()
    return Layer.mergeAll(
      Layer.succeed(ConversationRepository, store.conversations),
      Layer.succeed(MessageRepository, store.messages),
      Layer.succeed(TemplateCatalog, store.templates),
      Layer.succeed(IdempotencyStore, store.keys),
      Layer.succeed(WhatsAppNumberDirectory, store.numberDirectory),
      Layer.succeed(UserDirectory, store.users),
      Layer.succeed(StorageSeeder, store.seeder)
    )
  })
)
