/**
 * The memory `MessageRepository`: messages with their conversations' changes, statuses (parked when early), and the
 * Idempotency-Key a send's mark completes, each in one synchronous block of the shared store.
 */
import { DateTime, Effect, Option } from "effect"
import { applyInbound, applyOutbound, Conversation } from "../../Conversation.js"
import type { Position } from "../../Cursor.js"
import * as Events from "../../Event.js"
import { Sent } from "../../Idempotency.js"
import type { BusinessId, ConversationId } from "../../Ids.js"
import { advanceDeliveryStatus, type Message } from "../../Message.js"
import { InboundRecorded, type MessageRepository, StatusApplied } from "../../MessageRepository.js"
import type { StorageError } from "../../StorageError.js"
import {
  atomically,
  findOrCreateConversation,
  isAfter,
  type MemoryStore,
  missingConversation,
  newestFirst,
  ownConversation,
  ownMessage,
  raise,
  recordEvents,
  scoped,
  withMessage
} from "./Store.js"

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
