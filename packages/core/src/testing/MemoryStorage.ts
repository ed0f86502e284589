/**
 * In-memory adapters for every storage port, sharing one store so that the writes the ports promise to make
 * atomically (a message with its conversation update, an outbound message with its idempotency key) are atomic
 * here too: each method's critical section is one synchronous block, which nothing can interleave in JavaScript.
 *
 * For tests and for embedders' own tests; not durable.
 */
import { Context, DateTime, Duration, Effect, Layer, Option, Queue } from "effect"
import { applyPatch, Conversation } from "../Conversation.js"
import { ConversationRepository } from "../ConversationRepository.js"
import { InvalidCursor } from "../Cursor.js"
import * as Events from "../Event.js"
import { EventLog, follow, followBatch, type RecordedEvent } from "../EventLog.js"
import { ClaimResult, IdempotencyStore } from "../Idempotency.js"
import type { UserId } from "../Ids.js"
import { advanceDeliveryStatus } from "../Message.js"
import { MessageRepository } from "../MessageRepository.js"
import { Template } from "../Template.js"
import { TemplateCatalog } from "../TemplateCatalog.js"
import { UserDirectory } from "../UserDirectory.js"
import { WhatsAppNumberDirectory } from "../WhatsAppNumberDirectory.js"
import { makeMessageRepository } from "./memory/Messages.js"
import {
  atomically,
  findCustomer,
  findOrCreateConversation,
  type MemoryStore,
  makeStore,
  matchesQuery,
  newestFirst,
  ownConversation,
  recordEvents,
  scoped,
  withMessage
} from "./memory/Store.js"
import { StorageSeeder } from "./StorageSeeder.js"

export { makeMessageRepository } from "./memory/Messages.js"
export { type MemoryStore, makeStore, searchMatches } from "./memory/Store.js"

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
